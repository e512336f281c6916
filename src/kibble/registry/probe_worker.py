"""Probe worker: loads one model blob in its own process and answers JSON-line requests.

Run as ``python -m kibble.registry.probe_worker --home H --project P --digest D``. A blob
that is JSON ``{"class": "module:Name"}`` is imported only if ``--allow module:Name`` was
given (for deliberately broken test models); anything else loads through ``load_model``.
Never unpickles. Requests are the serving request's fields: ``user_id``, ``k`` and the
optional context ``item_id`` (item on screen) and ``exclude`` (e.g. the basket).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from kibble.config import load_settings
from kibble.context import Context
from kibble.recsys.base import RecContext, load_model


def _load(blob: bytes, allow: list[str]) -> Any:
    if blob[:1] == b"{":
        spec = json.loads(blob)
        name = str(spec.get("class", ""))
        if name not in allow:
            raise SystemExit(f"class {name!r} is not in the probe allowlist")
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)()
    return load_model(blob)


def _context(req: dict[str, Any]) -> RecContext | None:
    """The serving request's context fields: the item on screen and items to leave out
    (the basket). Raises TypeError on wrong types so the caller answers a clear error."""
    item_id, exclude = req.get("item_id"), req.get("exclude", [])
    if item_id is not None and not isinstance(item_id, str):
        raise TypeError("item_id")
    if not isinstance(exclude, list) or not all(isinstance(i, str) for i in exclude):
        raise TypeError("exclude")
    if item_id is None and not exclude:
        return None
    return RecContext(item_id=item_id, exclude=frozenset(exclude))


def _answer(model: Any, line: str) -> dict[str, Any]:
    try:
        req = json.loads(line)
        user, k = req["user_id"], req["k"]
        if not isinstance(user, str) or not isinstance(k, int) or isinstance(k, bool) or k < 0:
            return {"error": "user_id must be a string and k a non-negative integer"}
        context = _context(req)
    except (ValueError, KeyError, TypeError, AttributeError):
        return {
            "error": 'malformed request: send {"user_id": str, "k": int, '
            '"item_id": str (optional), "exclude": [str] (optional)}'
        }
    recs = model.recommend(user, k, context=context) if k > 0 else []
    return {"items": [str(getattr(r, "item_id", r)) for r in recs]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--digest", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--allow", action="append", default=[])
    args = parser.parse_args(argv)
    ctx = Context.open(
        load_settings({"home": args.home, "database_url": args.database_url}, environ={}),
        project=args.project,
    )
    model = _load(ctx.load_artifact(args.digest), args.allow)
    ctx.close()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(_answer(model, line)), flush=True)


if __name__ == "__main__":
    main()
