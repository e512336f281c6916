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


# What `kibble apply` makes of each kind of declaration, in the order `plan` shows them.
KINDS: dict[str, str] = {
    "tables": "lake contracts",
    "sources": "ingest sources",
    "pipelines": "schedules and triggers",
    "models": "promotion gates",
    "deployments": "rollout policies",
    "channels": "alert channels",
    "alerts": "alert rules",
}


def _items(spec: Mapping[str, Any] | None, kind: str) -> dict[str, Any]:
    found = (spec or {}).get(kind) or {}
    if isinstance(found, list):
        return {item["name"]: item for item in found if _named([item])}
    return dict(found)


def by_kind(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per kind: how many are declared and which are added, changed or removed."""
    out: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        before, after = _items(old, kind), _items(new, kind)
        out[kind] = {
            "declared": len(after),
            "added": sorted(after.keys() - before.keys()),
            "changed": sorted(k for k in after.keys() & before.keys() if after[k] != before[k]),
            "removed": sorted(before.keys() - after.keys()),
        }
    return out
