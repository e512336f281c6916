"""Cache keys and source hashes: pure functions of what a step's result depends on."""

from __future__ import annotations

import hashlib
import inspect
import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def source_hash(func: Callable[..., Any]) -> str:
    """Hash of the function's source text, so an edited step misses the cache."""
    hasher = hashlib.sha256()
    for part in _sources(func, depth=0):
        hasher.update(part.encode())
    return hasher.hexdigest()[:16]


def _sources(func: Callable[..., Any], depth: int) -> list[str]:
    """The function's source, plus that of functions it closes over (a step made by a
    factory shares its source text with its siblings; what it wraps tells them apart)."""
    try:
        parts = [textwrap.dedent(inspect.getsource(func))]
    except (OSError, TypeError):
        parts = [f"{func.__module__}:{func.__qualname__}"]
    if depth < 3:
        for cell in getattr(func, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if inspect.isfunction(value):
                parts.extend(_sources(value, depth + 1))
            elif isinstance(value, str | int | float | bool):
                parts.append(repr(value))
    return parts


def cache_key(
    *,
    pipeline: str,
    step: str,
    source: str,
    params: Mapping[str, Any],
    inputs: Mapping[str, str],
    tables: Mapping[str, int | None],
    depends_on: Sequence[str],
) -> str:
    """One digest over every component that can change a step's result."""
    payload = {
        "pipeline": pipeline,
        "step": step,
        "source": source,
        "params": dict(params),
        "inputs": dict(inputs),
        "tables": dict(tables),
        "depends_on": sorted(depends_on),
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()
