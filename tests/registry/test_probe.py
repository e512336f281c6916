"""Safety probe against real worker subprocesses loading allowlisted test models."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

from kibble.context import Context
from kibble.recsys import Interactions, ItemCatalog
from kibble.recsys.base import create_model, save_model
from kibble.recsys.synthetic import generate
from kibble.registry.gates import GateReport
from kibble.registry.probe import run_probe
from tests.registry.bad_models import ITEMS

MOD = "tests.registry.bad_models"


def _report(
    context: Context, cls: str, *, allow: bool = True, load: int = 50, sla: float | None = None
) -> GateReport:
    name = f"{MOD}:{cls}"
    digest = context.save_artifact(json.dumps({"class": name}).encode(), "application/json").digest
    return run_probe(
        context,
        digest,
        known_users=["alice", "bob", "carol"],
        valid_items=set(ITEMS),
        allow=[name] if allow else [],
        load_requests=load,
        latency_sla_ms=sla,
    )


def _probe(context: Context, cls: str, **kwargs: Any) -> dict[str, bool]:
    report = _report(context, cls, **kwargs)
    return {c.name: c.passed for c in report.checks} | {"overall": report.passed}


@pytest.mark.slow
def test_good_model_passes_and_broken_ones_fail(context: Context) -> None:
    good = _probe(context, "GoodModel")
    assert good["overall"], good
    assert good["malformed_rejected"] and good["p99_latency_ms"] and good["rss_mb"]
    assert _probe(context, "CrashOnUnknownUser") == {"no_crash": False, "overall": False}
    dup = _probe(context, "DuplicateItems")
    assert dup["no_crash"] and not dup["exact_k_unique_valid"]
    slow = _probe(context, "SlowModel", load=10)
    assert not slow["p99_latency_ms"] and not slow["overall"]


def test_class_outside_allowlist_is_refused(context: Context) -> None:
    assert _probe(context, "GoodModel", allow=False) == {"loads": False, "overall": False}


def test_context_items_are_sent_and_must_not_come_back(context: Context) -> None:
    """The basket and the item on screen are sent; a model that shows them again fails."""
    good = _probe(context, "GoodModel", load=5)
    assert good["context_items_excluded"] and good["overall"], good
    report = _report(context, "IgnoresContext", load=5)
    check = next(c for c in report.checks if c.name == "context_items_excluded")
    assert not check.passed and not report.passed
    assert check.measured >= 1 and "returned" in check.sentence
    assert report.checks[1].name == "exact_k_unique_valid" and report.checks[1].passed


def test_unknown_context_item_that_crashes_the_model_is_refused(context: Context) -> None:
    report = _report(context, "CrashOnUnknownContextItem", load=5)
    assert [c.name for c in report.checks] == ["no_crash"] and not report.passed
    assert "probe-unknown-item" in report.checks[0].sentence


@pytest.mark.slow
def test_the_policy_latency_limit_replaces_the_serving_sla(context: Context) -> None:
    """A model's gate policy may allow more than the default 50 ms (or demand less)."""
    report = _report(context, "SlowModel", load=5, sla=5000.0)
    latency = next(c for c in report.checks if c.name == "p99_latency_ms")
    assert latency.passed and latency.threshold == 5000.0


@pytest.mark.slow
def test_a_real_recommender_passes_the_probe_with_context(context: Context) -> None:
    """A fitted popularity model loaded by digest: the worker's real (non-allowlisted) path."""
    data = generate(150, 80, 4000, seed=7)
    items = data.items.with_columns(season_start=pl.lit(-1), season_end=pl.lit(-1))
    model = create_model("popularity").fit(
        Interactions.from_events(data.events, event_col="event"), ItemCatalog.from_table(items)
    )
    digest = context.save_artifact(save_model(model), "application/octet-stream").digest
    in_stock = set(items.filter(pl.col("in_stock"))["item_id"].to_list())
    assert 0 < len(in_stock) < items.height  # some items are out of stock
    report = run_probe(
        context,
        digest,
        known_users=sorted(set(data.events["user_id"].to_list()))[:3],
        valid_items=in_stock,
        load_requests=20,
    )
    assert report.passed, [c.sentence for c in report.checks if not c.passed]
    assert "context_items_excluded" in {c.name for c in report.checks}
