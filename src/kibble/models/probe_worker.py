"""Tabular probe worker: loads one logged model in its own process and answers JSON lines.

Run as ``python -m kibble.models.probe_worker --home H --project P --digest D
--database-url U``. Each line is ``{"rows": [{column: value}]}``; the answer is
``{"predictions": [...]}``, ``{"error": ...}`` when the rows break the signature (what
serving answers 400 to), or ``{"raised": ...}`` when the model itself raised.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
import pandas as pd

from kibble.config import load_settings
from kibble.context import Context
from kibble.errors import KibbleError
from kibble.models.bundle import Bundle
from kibble.models.log import load_logged, single_threaded
from kibble.models.signature import check_rows


def answer(bundle: Bundle, line: str) -> dict[str, Any]:
    try:
        rows = check_rows(bundle.manifest.signature, json.loads(line)["rows"])
    except KibbleError as exc:
        return {"error": exc.message}
    except (ValueError, KeyError, TypeError) as exc:
        return {"error": f"malformed request: {exc}"}
    try:
        out = np.asarray(bundle.model.predict(pd.DataFrame(rows)), dtype=np.float64)
    except Exception as exc:
        return {"raised": f"{type(exc).__name__}: {str(exc)[:200]}"}
    return {"predictions": [None if not np.isfinite(v) else float(v) for v in out.ravel()]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    for flag in ("--home", "--project", "--digest", "--database-url"):
        parser.add_argument(flag, required=True)
    args = parser.parse_args(argv)
    ctx = Context.open(
        load_settings({"home": args.home, "database_url": args.database_url}, environ={}),
        project=args.project,
    )
    bundle = load_logged(ctx, args.digest)
    ctx.close()
    single_threaded()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        print(json.dumps(answer(bundle, line)), flush=True)


if __name__ == "__main__":
    main()
