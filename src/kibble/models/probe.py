"""Safety probe for tabular models: the model in its own process (``probe_worker``),
asked real rows one by one (a row it raises on is shown), rows with a missing column and
with a wrong type (the signature must refuse them, as serving does), extreme values (no
exception, no NaN), and single-row p99 latency under the SLA."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from kibble.context import Context
from kibble.models.signature import Signature
from kibble.registry.gates import Check, GateReport
from kibble.registry.probe import _check, _Worker, latency_check

WORKER = "kibble.models.probe_worker"
EXTREMES: dict[str, tuple[Any, ...]] = {
    "float": (1e300, -1e300, 0.0, None),
    "int": (2**53, -(2**53), 0),
    "bool": (True, False),
    "str": ("", "probe-unknown-value"),
}
WRONG = {"float": "x", "int": "x", "bool": "x", "str": 1}


def _ask(worker: _Worker, rows: list[dict[str, Any]]) -> dict[str, Any]:
    answer = worker.ask(json.dumps({"rows": rows}, default=str))
    if answer is None:
        raise RuntimeError(f"the worker died on {rows[0]}: {worker.close()}")
    return answer


def _rows_check(worker: _Worker, rows: Sequence[dict[str, Any]]) -> Check:
    for row in rows:
        answer = _ask(worker, [row])
        if "predictions" not in answer:
            why = answer.get("raised") or answer.get("error")
            return _check("rows_predicted", 0, 1, False, f"the model raised on row {row}: {why}")
    return _check("rows_predicted", len(rows), len(rows), True, f"{len(rows)} rows predicted.")


def _refusals(worker: _Worker, row: dict[str, Any], signature: Signature) -> list[Check]:
    first = signature.columns[0]
    missing = {k: v for k, v in row.items() if k != first.name}
    wrong = {**row, first.name: WRONG[first.type]}
    checks = []
    for name, bad in (("missing_column_refused", missing), ("wrong_type_refused", wrong)):
        answer = _ask(worker, [bad])
        ok = "error" in answer and first.name in answer["error"]
        said = answer.get("error") or answer.get("raised") or "an answer"
        checks.append(_check(name, float(ok), 1, ok, f"{name.replace('_', ' ')}: {said}"))
    return checks


def _extremes(worker: _Worker, row: dict[str, Any], signature: Signature) -> Check:
    bad = []
    for col in signature.columns:
        for value in EXTREMES[col.type]:
            probe = {**row, col.name: value}
            answer = _ask(worker, [probe])
            preds = answer.get("predictions")
            if preds is None or any(p is None for p in preds):
                bad.append(f"{col.name}={value!r}: {answer.get('raised') or 'NaN answer'}")
    return _check(
        "extreme_values",
        len(bad),
        0,
        not bad,
        "extreme and empty values answered." if not bad else f"failed on {'; '.join(bad[:3])}.",
    )


def run_tabular_probe(
    context: Context,
    digest: str,
    signature: Signature,
    rows: Sequence[dict[str, Any]],
    *,
    latency_sla_ms: float | None = None,
    load_requests: int = 100,
) -> GateReport:
    """Probe the logged model ``digest`` with ``rows`` (a sample of the evaluation table)."""
    if not rows:
        return GateReport.of([_check("rows_predicted", 0, 1, False, "no rows to probe with")])
    worker = _Worker(context, digest, (), module=WORKER)
    if not worker.ready:
        return GateReport.of([_check("loads", 0, 1, False, f"failed to load: {worker.close()}")])
    try:
        checks = [_rows_check(worker, rows)]
        checks += _refusals(worker, dict(rows[0]), signature)
        checks.append(_extremes(worker, dict(rows[0]), signature))
        sla = latency_sla_ms or context.settings.serving.latency_sla_ms
        lat = []
        for i in range(load_requests):
            start = time.perf_counter()
            _ask(worker, [rows[i % len(rows)]])
            lat.append((time.perf_counter() - start) * 1000)
    except RuntimeError as crash:
        return GateReport.of([_check("no_crash", 0, 1, False, str(crash))])
    checks.append(latency_check(lat, sla, "single-row p99"))
    worker.close()
    return GateReport.of(checks)
