"""What would change: a flat, exact diff between two canonical definitions. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Change:
    kind: Literal["added", "removed", "changed"]
    path: str
    old: Any = None
    new: Any = None

    def render(self) -> str:
        def show(value: Any) -> str:
            return json.dumps(value, sort_keys=True)

        if self.kind == "added":
            return f"+ {self.path} = {show(self.new)}"
        if self.kind == "removed":
            return f"- {self.path} (was {show(self.old)})"
        return f"~ {self.path}: {show(self.old)} -> {show(self.new)}"


def _named(items: list[Any]) -> bool:
    return bool(items) and all(
        isinstance(i, Mapping) and isinstance(i.get("name"), str) for i in items
    )


def _flatten(data: Any, path: str = "") -> dict[str, Any]:
    if isinstance(data, list) and _named(data):
        data = {item["name"]: item for item in data}
    if isinstance(data, Mapping) and data:
        flat: dict[str, Any] = {}
        for key in sorted(data):
            flat.update(_flatten(data[key], f"{path}.{key}" if path else str(key)))
        return flat
    return {path: data}


def diff(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """Leaf-level changes. Lists of named items (columns, alert rules) diff by name; other
    lists (rollout steps) compare whole."""
    before = _flatten(old) if old else {}
    after = _flatten(new) if new else {}
    changes = []
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            changes.append(Change("added", path, new=after[path]))
        elif path not in after:
            changes.append(Change("removed", path, old=before[path]))
        elif before[path] != after[path]:
            changes.append(Change("changed", path, before[path], after[path]))
    return changes
