"""Batch scoring: a logged model over a lake table, written as a new version of another
table (the scored rows' keys, the prediction, the score for classifiers, and which
version answered), so what was scored, by what, from which input is on record."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from kibble.context import Context
from kibble.data.contracts import Contract
from kibble.data.contracts.model import Column, ColumnType
from kibble.data.tables import Tables
from kibble.errors import NotFoundError
from kibble.models.evaluate import frame_rows
from kibble.models.log import load_logged
from kibble.serving.pointers import resolve_aliases

TYPES: dict[pl.DataType, ColumnType] = {
    pl.Int64(): "int64",
    pl.Float64(): "float64",
    pl.Boolean(): "bool",
    pl.String(): "string",
}


def _contract(name: str, frame: pl.DataFrame) -> Contract:
    return Contract(
        name=name,
        description="scores written by kibble.steps.score",
        columns=[
            Column(name=c, type=TYPES.get(t, "string"), nullable=True)
            for c, t in frame.schema.items()
        ],
    )


def score_table(
    context: Context,
    model_name: str,
    table: str,
    output: str,
    *,
    keys: list[str] | None = None,
    alias: str = "champion",
    run_id: str | None = None,
) -> dict[str, Any]:
    """Score every row of ``table`` with ``model_name``'s ``alias`` version into a new
    version of ``output`` (replaced whole); returns what was written."""
    with context.store.session() as session:
        ref = resolve_aliases(session, context.project_id, model_name)[alias]
    bundle = load_logged(context, ref.digest)
    tables = Tables(context)
    frame = tables.polars(table)
    x = frame_rows(frame, bundle.manifest.signature.names)
    out = frame.select(keys or [])
    out = out.with_columns(
        pl.Series("prediction", np.asarray(bundle.model.predict(x)).astype(np.float64))
    )
    if bundle.manifest.task == "classifier":
        scores = np.asarray(bundle.model.predict_proba(x))[:, -1].astype(np.float64)
        out = out.with_columns(pl.Series("score", scores))
    out = out.with_columns(pl.lit(ref.label).alias("model_version"))
    try:
        tables.contract(output)
    except NotFoundError:
        tables.register(_contract(output, out))
    read = tables.lake.version(table)
    version = tables.write(
        output,
        out,
        mode="overwrite",
        operation="score",
        details={"model": ref.label, "input": table, "input_version": read},
        run_id=run_id,
    )
    return {
        "table": output,
        "version": version,
        "rows": out.height,
        "model": ref.label,
        "input": table,
        "input_version": read,
    }
