"""The model contract: signature from the training frame, a skops bundle with its
environment, pickle only on an explicit opt-in."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from kibble.context import Context
from kibble.errors import UnsafeInputError, UsageError
from kibble.models.bundle import load_bundle, read_manifest
from kibble.models.log import load_logged, log_model
from kibble.models.signature import check_rows, signature_of
from tests.models.odd_models import MatchesCountry, RaisesOnVisits
from tests.models.shapes import FEATURES, classifier, visitors


def test_signature_from_pandas_and_polars_frames() -> None:
    frame = visitors(20)[FEATURES]
    want = {"pages": "float", "visits": "int", "country": "str"}
    for source in (frame, pl.from_pandas(frame)):
        assert {c.name: c.type for c in signature_of(source).columns} == want


def test_rows_are_checked_against_the_signature_naming_the_column() -> None:
    sig = signature_of(visitors(5)[FEATURES])
    good = {"pages": 3, "visits": 2, "country": "de", "extra": "ignored"}
    assert check_rows(sig, [good]) == [{"pages": 3, "visits": 2, "country": "de"}]
    with pytest.raises(UsageError, match="missing column 'visits'"):
        check_rows(sig, [{"pages": 1.0, "country": "de"}])
    with pytest.raises(UsageError, match="column 'visits' must be int, got str"):
        check_rows(sig, [{**good, "visits": "2"}])
    with pytest.raises(UsageError, match="column 'pages' must be float, got bool"):
        check_rows(sig, [{**good, "pages": True}])


def test_log_model_registers_a_skops_bundle_with_its_environment(context: Context) -> None:
    train = visitors(200)
    model = classifier(train)
    version = log_model(model, "buyers", training_frame=train[FEATURES], context=context)
    assert version["flavor"] == "sklearn" and version["params"]["format"] == "skops"
    assert version["lineage"]["environment"]["scikit-learn"]
    blob = context.load_artifact(version["digest"])
    assert blob[:2] == b"PK"  # a zip, never a pickle
    manifest = read_manifest(blob)
    assert manifest.task == "classifier" and len(manifest.reference["pages"]) == 200
    loaded = load_logged(context, version["digest"]).model
    rows = train[FEATURES].head(5)
    assert (loaded.predict(rows) == model.predict(rows)).all()


def test_types_outside_sklearn_must_be_trusted_by_name(context: Context) -> None:
    with pytest.raises(UnsafeInputError, match="RaisesOnVisits"):
        log_model(RaisesOnVisits(), "odd", signature={"visits": "int"}, context=context)
    name = f"{RaisesOnVisits.__module__}.RaisesOnVisits"
    version = log_model(
        RaisesOnVisits(), "odd", signature={"visits": "int"}, trusted=[name], context=context
    )
    assert version["flavor"] == "python" and version["params"]["format"] == "skops"


def test_a_pickle_only_model_is_refused_without_the_opt_in(context: Context) -> None:
    sig = {"country": "str"}
    with pytest.raises(UnsafeInputError, match=r"nobody trusted: re\.Pattern"):
        log_model(MatchesCountry(), "rx", signature=sig, context=context)
    trusted = ["re.Pattern", f"{MatchesCountry.__module__}.MatchesCountry"]
    with pytest.raises(UnsafeInputError, match=r"cannot be saved safely.*allow_pickle=True"):
        log_model(MatchesCountry(), "rx", signature=sig, trusted=trusted, context=context)
    with pytest.warns(UserWarning, match="stored as pickle"):
        version = log_model(
            MatchesCountry(), "rx", signature={"country": "str"}, allow_pickle=True, context=context
        )
    blob = context.load_artifact(version["digest"])
    with pytest.raises(UnsafeInputError, match="was not opted in"):
        load_bundle(blob)  # no opt-in given: refused
    model = load_logged(context, version["digest"]).model  # the opt-in is on record
    assert list(model.predict(pd.DataFrame({"country": ["de", "fr"]}))) == [1, 0]


def test_the_same_bytes_without_the_recorded_opt_in_do_not_load(context: Context) -> None:
    """A pickle bundle registered any other way (no opt-in on record) never loads."""
    with pytest.warns(UserWarning):
        version = log_model(
            MatchesCountry(), "rx", signature={"country": "str"}, allow_pickle=True, context=context
        )
    blob = context.load_artifact(version["digest"])
    other = Context.open(context.settings, project="other")
    try:
        ref = other.save_artifact(blob, "application/x-kibble-model+zip", name="rx")
        with pytest.raises(UnsafeInputError, match="was not opted in"):
            load_logged(other, ref.digest)
    finally:
        other.close()
