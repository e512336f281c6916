"""What a page shows, as plain data: sections the one page template knows how to draw.

Pages are built from these small constructors so every page looks and behaves the same
(charts fall back to tables, lists paginate, actions carry the CSRF token).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Page:
    title: str
    sections: list[dict[str, Any]] = field(default_factory=list)
    subtitle: str = ""

    def add(self, section: dict[str, Any]) -> Page:
        self.sections.append(section)
        return self


def cards(section_id: str, items: list[tuple[str, str, Any]]) -> dict[str, Any]:
    return {
        "kind": "cards",
        "id": section_id,
        "cards": [{"key": k, "label": label, "value": v} for k, label, v in items],
    }


def table(
    section_id: str,
    title: str,
    columns: list[str],
    rows: list[list[Any]],
    empty: str = "nothing yet",
) -> dict[str, Any]:
    return {
        "kind": "table",
        "id": section_id,
        "title": title,
        "columns": columns,
        "rows": rows,
        "empty": empty,
    }


def chart(
    section_id: str, title: str, series: list[dict[str, Any]], **options: Any
) -> dict[str, Any]:
    """``series``: [{"name", "x": [...], "y": [...]}]; options: type, mode, yaxis..."""
    return {"kind": "chart", "id": section_id, "title": title, "series": series, **options}


def json_block(section_id: str, title: str, data: Any) -> dict[str, Any]:
    return {"kind": "json", "id": section_id, "title": title, "data": data}


def text_block(section_id: str, title: str, text: str) -> dict[str, Any]:
    return {"kind": "text", "id": section_id, "title": title, "text": text}


def link(text: Any, href: str, link_id: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"text": text, "href": href}
    if link_id:
        value["id"] = link_id
    return value


def status(value: str) -> dict[str, Any]:
    return {"status": value}


def when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else None


def duration(start: datetime | None, end: datetime | None) -> str | None:
    if not start or not end:
        return None
    seconds = (end - start).total_seconds()
    return f"{seconds:.2f}s" if seconds < 120 else f"{seconds / 60:.1f}m"
