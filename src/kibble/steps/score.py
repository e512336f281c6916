"""Batch scoring as a platform step: a logged model's answers for a lake table, written
as a new version of another table (see ``kibble.models.batch.score_table``).

    nightly = Pipeline("nightly", [score])   # params: model, table, output, keys
"""

from __future__ import annotations

from typing import Any

from kibble.models.batch import score_table
from kibble.pipelines import log, record_read, step
from kibble.steps.context import run_id, step_context


@step(cache=False)
def score(model: str, table: str, output: str, keys: list[str] | None = None) -> dict[str, Any]:
    """Score ``table`` with ``model``'s champion into a new version of ``output``."""
    with step_context() as context:
        written = score_table(context, model, table, output, keys=keys, run_id=run_id())
    record_read(table, written["input_version"])
    log(f"scored {written['rows']} rows of {table} with {written['model']} into {output}")
    return written
