"""A model bundle: the model in a safe format, its signature and its environment, in one
zip that is stored content-addressed like every artifact.

The model goes through skops (no pickle; on load, every type outside scikit-learn, numpy
and scipy must have been trusted by name when the model was logged). A model skops
cannot save is refused with the reason, unless the caller opts in to pickle, which
warns and is recorded: such a bundle loads only where that opt-in is on record
(``allow_pickle``), never from anything a request can reach.
"""

from __future__ import annotations

import io
import json
import pickle
import platform
import warnings
import zipfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pydantic import BaseModel, Field

from kibble.errors import UnsafeInputError, UsageError
from kibble.models.signature import Signature

MEDIA_TYPE = "application/x-kibble-model+zip"
MANIFEST = "kibble-model.json"
TRUSTED_ROOTS = ("sklearn", "numpy", "scipy")
REFERENCE_ROWS = 2000
PACKAGES = ("scikit-learn", "numpy", "scipy", "skops", "pandas", "polars")


class Manifest(BaseModel):
    """What a bundle says about its model."""

    format: str  # "skops" or "pickle"
    signature: Signature
    task: str  # "classifier" (has predict_proba) or "regressor"
    classes: list[Any] = Field(default_factory=list)
    environment: dict[str, str] = Field(default_factory=dict)
    trusted: list[str] = Field(default_factory=list, description="non-sklearn types trusted")
    reference: dict[str, list[Any]] = Field(
        default_factory=dict, description="a sample of the training frame, for drift"
    )


@dataclass
class Bundle:
    model: Any
    manifest: Manifest


def environment(model: Any) -> dict[str, str]:
    """Python and the package versions the model was saved with (its own package too)."""
    found = {"python": platform.python_version()}
    own = type(model).__module__.split(".")[0]
    for name in (*PACKAGES, own):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _skops_dump(model: Any, trusted: list[str]) -> bytes:
    import skops.io as sio

    data: bytes = sio.dumps(model)
    _skops_load(data, trusted)  # what cannot be loaded back is not saved
    return data


def _untrusted(types: list[str], trusted: list[str]) -> list[str]:
    return [t for t in types if t.split(".")[0] not in TRUSTED_ROOTS and t not in trusted]


def _skops_load(data: bytes, trusted: list[str]) -> Any:
    import skops.io as sio

    types = sio.get_untrusted_types(data=data)
    refused = _untrusted(types, trusted)
    if refused:
        raise UnsafeInputError(
            f"the model holds types nobody trusted: {', '.join(refused)}",
            hint="log it again with trusted=[...] naming them, if you trust their code",
        )
    return sio.loads(data, trusted=types)


def dump_bundle(
    model: Any,
    signature: Signature,
    *,
    allow_pickle: bool = False,
    trusted: list[str] | None = None,
    reference: dict[str, list[Any]] | None = None,
) -> tuple[bytes, Manifest]:
    """The bundle's bytes (deterministic for the same model) and its manifest."""
    if not callable(getattr(model, "predict", None)):
        raise UsageError(
            f"a {type(model).__name__} has no predict method",
            hint="log an estimator, a pipeline or any object with predict(frame)",
        )
    trusted = list(trusted or [])
    try:
        payload, fmt = _skops_dump(model, trusted), "skops"
    except Exception as exc:
        if isinstance(exc, UnsafeInputError) and not allow_pickle:
            raise  # names the types to trust
        if not allow_pickle:
            raise UnsafeInputError(
                f"the {type(model).__name__} cannot be saved safely: skops says "
                f"{type(exc).__name__}: {str(exc)[:160]}",
                hint="use a scikit-learn model, or pass allow_pickle=True if you trust it "
                "(a pickle runs code when loaded)",
            ) from None
        warnings.warn(
            f"{type(model).__name__} is stored as pickle: loading it runs code; "
            "only kibble processes with the opt-in on record will load it",
            stacklevel=3,
        )
        payload, fmt = pickle.dumps(model, protocol=5), "pickle"
    has_proba = callable(getattr(model, "predict_proba", None))
    classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
    manifest = Manifest(
        format=fmt,
        signature=signature,
        task="classifier" if has_proba else "regressor",
        classes=classes,
        environment=environment(model),
        trusted=trusted,
        reference=reference or {},
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in (
            (MANIFEST, manifest.model_dump_json().encode()),
            (f"model.{fmt}", payload),
        ):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return out.getvalue(), manifest


def read_manifest(blob: bytes) -> Manifest:
    try:
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            return Manifest.model_validate(json.loads(archive.read(MANIFEST)))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise UsageError(
            f"not a kibble model bundle ({type(exc).__name__})",
            hint="register Python models with kibble.log_model",
        ) from None


def load_bundle(blob: bytes, *, allow_pickle: bool = False) -> Bundle:
    """The model and its manifest; a pickle bundle only with ``allow_pickle``."""
    manifest = read_manifest(blob)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        payload = archive.read(f"model.{manifest.format}")
    if manifest.format == "skops":
        return Bundle(_skops_load(payload, manifest.trusted), manifest)
    if manifest.format == "pickle" and allow_pickle:
        return Bundle(pickle.loads(payload), manifest)  # noqa: S301 - opt-in on record
    raise UnsafeInputError(
        f"this bundle is {manifest.format} and was not opted in to load",
        hint="log the model with kibble.log_model(..., allow_pickle=True) from trusted code",
    )
