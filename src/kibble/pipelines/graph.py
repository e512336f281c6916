"""The pipeline graph as pure data: order, parallel levels, cycles. No I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kibble.errors import UsageError


def topological_levels(deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Group steps into levels; every step's dependencies sit in earlier levels.

    Steps in one level are independent and may run in parallel. Order inside a level
    follows the declaration order, so runs are deterministic.
    """
    for name, needs in deps.items():
        for need in needs:
            if need not in deps:
                raise UsageError(
                    f"step {name!r} depends on unknown step {need!r}",
                    hint="add that step to the pipeline or rename the argument",
                )
    remaining = {name: set(needs) for name, needs in deps.items()}
    done: set[str] = set()
    levels: list[list[str]] = []
    while remaining:
        ready = [name for name, needs in remaining.items() if needs <= done]
        if not ready:
            raise UsageError(
                f"the steps {sorted(remaining)} form a cycle",
                hint="a step cannot depend, directly or not, on itself",
            )
        levels.append(ready)
        done.update(ready)
        for name in ready:
            del remaining[name]
    return levels


def downstream(deps: Mapping[str, Sequence[str]], roots: Sequence[str]) -> set[str]:
    """Every step that depends, directly or not, on one of ``roots`` (roots included)."""
    found = set(roots)
    changed = True
    while changed:
        changed = False
        for name, needs in deps.items():
            if name not in found and found.intersection(needs):
                found.add(name)
                changed = True
    return found
