"""Offline evidence for a tabular model: per-row metric values of the candidate, the
baseline and the champion on a lake table with a label column, keyed by row, ready for
the registry's paired-bootstrap gates (rows play the users' part)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from kibble.errors import UsageError
from kibble.models.bundle import Bundle
from kibble.models.metrics import RowMetric, Rows, resolve
from kibble.registry.promotion import Evaluation


def frame_rows(frame: pl.DataFrame, columns: Sequence[str]) -> Any:
    """The columns a model takes, as the pandas frame scikit-learn was fitted on."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
            f"the evaluation table lacks the model's columns {missing}",
            hint="evaluate on a table with every column of the model's signature",
        )
    return frame.select(list(columns)).to_pandas()


def outputs(bundle: Bundle, x: Any, proba: bool) -> Rows:
    """Predictions, or the positive class's probability when the metric scores them."""
    model = bundle.model
    if proba:
        if not callable(getattr(model, "predict_proba", None)):
            raise UsageError("this metric needs predict_proba", hint="use rmse or mape")
        return np.asarray(model.predict_proba(x), dtype=np.float64)[:, -1]
    return np.asarray(model.predict(x), dtype=np.float64)


class _Constant:
    """The naive baseline when none is registered: the label's mean for every row."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict(self, x: Any) -> Rows:
        return np.full(len(x), self.value)

    def predict_proba(self, x: Any) -> Rows:
        p = np.full(len(x), self.value)
        return np.column_stack([1 - p, p])


def tabular_evidence(
    candidate: Bundle,
    frame: pl.DataFrame,
    *,
    label: str,
    metric: str,
    baseline: Bundle | None = None,
    champion: Bundle | None = None,
    slice_by: str | None = None,
    row_id: str | None = None,
    user_metric: RowMetric | None = None,
) -> tuple[str, Evaluation]:
    """The metric's name and the evaluation; rows keyed by ``row_id`` (else position)."""
    if label not in frame.columns:
        raise UsageError(f"the evaluation table has no label column {label!r}", hint="name it")
    if user_metric is not None:
        name, fn, proba = getattr(user_metric, "__name__", "custom"), user_metric, False
    else:
        name, fn, proba = resolve(metric, candidate.manifest.task)
    y = frame[label].cast(pl.Float64).to_numpy()
    x = frame_rows(frame, candidate.manifest.signature.names)
    keys = [str(k) for k in (frame[row_id] if row_id else range(frame.height))]
    reference = baseline or Bundle(_Constant(float(y.mean())), candidate.manifest)

    def per_row(bundle: Bundle) -> dict[str, float]:
        values = fn(y, outputs(bundle, x, proba))
        return dict(zip(keys, values.tolist(), strict=True))

    return name, Evaluation(
        candidate=per_row(candidate),
        baseline=per_row(reference),
        champion=per_row(champion) if champion else None,
        slices=dict(zip(keys, frame[slice_by].cast(pl.String).to_list(), strict=True))
        if slice_by
        else None,
    )
