"""``kibble.log_model``: register any Python model as a version, from a notebook or a step.

One implementation underneath: the bundle is saved as an artifact and registered through
``register_model``, so the version names its training run and that run's table versions.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from kibble.context import Context
from kibble.errors import UsageError
from kibble.models.bundle import MEDIA_TYPE, REFERENCE_ROWS, Bundle, dump_bundle, load_bundle
from kibble.models.signature import Column, Signature, signature_of

PICKLE_OPT_IN = "pickle_opt_in"


def _signature(training_frame: Any, signature: Signature | Mapping[str, str] | None) -> Signature:
    if isinstance(signature, Signature):
        return signature
    if signature is not None:
        return Signature(columns=[Column(name=n, type=t) for n, t in signature.items()])  # type: ignore[arg-type]
    if training_frame is None:
        raise UsageError(
            "a model needs its input signature",
            hint="pass training_frame=X (the frame it was fitted on) or signature={name: type}",
        )
    return signature_of(training_frame)


def _reference(training_frame: Any, signature: Signature) -> dict[str, list[Any]]:
    """Up to REFERENCE_ROWS rows of the training frame per column (drift's reference)."""
    if training_frame is None:
        return {}
    head = training_frame.head(REFERENCE_ROWS)
    return {
        c.name: [None if v != v else v for v in head[c.name].to_list()] for c in signature.columns
    }


@contextmanager
def _context(context: Context | None) -> Iterator[tuple[Context, str | None]]:
    """The given context, the running step's, or the default project's."""
    from kibble.pipelines import stepctx
    from kibble.steps.context import run_id, step_context

    if context is not None:
        yield context, None
    elif stepctx.current() is not None:
        with step_context() as ctx:
            yield ctx, run_id()
    else:
        ctx = Context.open()
        try:
            yield ctx, None
        finally:
            ctx.close()


def log_model(
    model: Any,
    name: str,
    *,
    training_frame: Any = None,
    signature: Signature | Mapping[str, str] | None = None,
    run_id: str | None = None,
    label: str | None = None,
    allow_pickle: bool = False,
    trusted: list[str] | None = None,
    params: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    context: Context | None = None,
) -> dict[str, Any]:
    """Register ``model`` (anything with ``predict``) as the next version of ``name``.

    The signature comes from ``training_frame`` (or ``signature``); a sample of that frame
    is kept as the reference for input drift. Saved with skops; a model only pickle can
    save is refused unless ``allow_pickle`` (it warns, and the opt-in is recorded).
    ``label`` names the column the gate scores it against. Inside a pipeline step the
    version names the step's run unless ``run_id`` is given."""
    from kibble.registry.lifecycle import register_model

    sig = _signature(training_frame, signature)
    blob, manifest = dump_bundle(
        model,
        sig,
        allow_pickle=allow_pickle,
        trusted=trusted,
        reference=_reference(training_frame, sig),
    )
    flavor = "sklearn" if type(model).__module__.startswith("sklearn.") else "python"
    with _context(context) as (ctx, step_run):
        meta = {"format": manifest.format, "signature": sig.model_dump()}
        if manifest.format == "pickle":
            meta[PICKLE_OPT_IN] = ctx.actor
        ref = ctx.save_artifact(blob, MEDIA_TYPE, name=name, run_id=run_id or step_run, meta=meta)
        return register_model(
            ctx,
            name,
            ref.digest,
            flavor=flavor,
            run_id=run_id or step_run,
            params={**(params or {}), "task": manifest.task, "format": manifest.format}
            | ({"label": label} if label else {}),
            metrics=metrics,
            lineage={"environment": manifest.environment},
        )


def load_logged(context: Context, digest: str) -> Bundle:
    """A logged model of this project; pickle only when its opt-in is on record."""
    record = context.artifact_record(digest)
    allow = bool((record.meta or {}).get(PICKLE_OPT_IN))
    return load_bundle(context.load_artifact(digest), allow_pickle=allow)


def single_threaded() -> None:
    """One native thread per process for row-at-a-time predictions: OpenMP's worker pools
    (gradient boosting, BLAS) cost more than they give on one row, and on a busy host
    their spinning turned 1 ms answers into 100s of ms."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)
