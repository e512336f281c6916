"""Find a pipeline by reference: ``package.module:attr`` or ``path/to/file.py:attr``."""

from __future__ import annotations

import sys
from pathlib import Path

from kibble.errors import NotFoundError, UsageError
from kibble.pipelines.definitions import Pipeline
from kibble.pipelines.worker import import_ref


def load_pipeline(ref: str) -> Pipeline:
    module_part, _, attr = ref.rpartition(":")
    if not module_part or not attr:
        raise UsageError(
            f"{ref!r} is not MODULE:PIPELINE", hint="e.g. flows.daily:pipeline or flows.py:pipeline"
        )
    if module_part.endswith(".py"):
        path = Path(module_part).resolve()
        if not path.is_file():
            raise NotFoundError(f"{path} does not exist", hint="check the file path")
        if str(path.parent) not in sys.path:
            sys.path.insert(0, str(path.parent))
        ref = f"{path.stem}:{attr}"
    elif str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        target = import_ref(ref)
    except (ImportError, AttributeError) as exc:
        raise NotFoundError(
            f"cannot load {ref!r}: {exc}", hint="check the module path and that it imports"
        ) from exc
    if not isinstance(target, Pipeline):
        raise UsageError(f"{ref!r} is a {type(target).__name__}, not a Pipeline", hint="")
    return target


def canonical_ref(ref: str) -> str:
    """The reference with a file path turned absolute, so the scheduler finds it anywhere."""
    module_part, _, attr = ref.rpartition(":")
    if module_part.endswith(".py"):
        return f"{Path(module_part).resolve()}:{attr}"
    return ref
