"""Probe worker: loads one model blob in its own process and answers JSON-line requests.

Run as ``python -m kibble.registry.probe_worker --home H --project P --digest D``. A blob
that is JSON ``{"class": "module:Name"}`` is imported only if ``--allow module:Name`` was
given (for deliberately broken test models); anything else loads through ``load_model``.
Never unpickles.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from kibble.config import load_settings
from kibble.context import Context


def _load(blob: bytes, allow: list[str]) -> Any:
    if blob[:1] == b"{":
        spec = json.loads(blob)
        name = str(spec.get("class", ""))
        if name not in allow:
            raise SystemExit(f"class {name!r} is not in the probe allowlist")
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)()
    from kibble.recsys.base import load_model

    return load_model(blob)


def _answer(model: Any, line: str) -> dict[str, Any]:
    try:
        req = json.loads(line)
        user, k = req["user_id"], req["k"]
        if not isinstance(user, str) or not isinstance(k, int) or isinstance(k, bool) or k < 0:
            return {"error": "user_id must be a string and k a non-negative integer"}
    except (ValueError, KeyError, TypeError):
        return {"error": 'malformed request: send {"user_id": str, "k": int}'}
    recs = model.recommend(user, k) if k > 0 else []
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
