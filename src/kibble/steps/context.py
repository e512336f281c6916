"""The store, artifacts and project of the run a platform step belongs to."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kibble.config import load_settings
from kibble.context import Context
from kibble.errors import UsageError
from kibble.pipelines import stepctx


@contextmanager
def step_context() -> Iterator[Context]:
    """The runner's own context in-process; in a process or Ray worker, one opened on the
    same home, database and artifact store (closed again when the block ends)."""
    scope = stepctx.current()
    if scope is None or not scope.run:
        raise UsageError(
            "this platform step needs the run it belongs to",
            hint="run it inside a pipeline (`kibble run`, a schedule or run_pipeline)",
        )
    if isinstance(scope.context, Context):
        yield scope.context
        return
    settings = load_settings(dict(scope.run["settings"]))
    context = Context.open(settings, project=scope.run["project"], actor=scope.run.get("actor"))
    try:
        yield context
    finally:
        context.close()


def run_id() -> str | None:
    """The current run's id (None outside a pipeline run)."""
    scope = stepctx.current()
    return None if scope is None else scope.run.get("run_id")
