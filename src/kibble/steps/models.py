"""The model half of a daily pipeline: train the factory's candidates on the lake, register
each as a version of the run that trained it, gate every version by the model's stored
policy (safety probe, offline checks against baseline and champion), and hand the best
passer to the rollout controller under the deployment's declared rollout policy.

    check -> train -> gate -> rollout

The controller then promotes or rolls back from live traffic; nothing here promotes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import polars as pl

from kibble.artifacts.formats import NPZ
from kibble.context import Context
from kibble.data.tables import Tables
from kibble.errors import ConflictError, NotFoundError
from kibble.pipelines import log, record_read, step
from kibble.registry.lifecycle import gate_model, register_model
from kibble.steps.context import run_id, step_context
from kibble.store.repositories.registry import Registry


def _window(
    context: Context, table: str, day: str, days: int, *, include_day: bool
) -> pl.DataFrame:
    """The table's partitions in the ``days`` days before ``day`` (and ``day`` itself)."""
    tables = Tables(context)
    part = tables.contract(table).partition_by
    frame = tables.polars(table)
    record_read(table, tables.lake.version(table))
    if part is None:
        return frame
    last = date.fromisoformat(day) - timedelta(days=0 if include_day else 1)
    first = date.fromisoformat(day) - timedelta(days=days)
    column = pl.col(part).cast(pl.Date) if frame.schema[part] != pl.Date else pl.col(part)
    return frame.filter(column.is_between(first, last))


def _items(context: Context, items_table: str | None) -> Any:
    if not items_table:
        return None
    from kibble.recsys.catalog import ItemCatalog

    return ItemCatalog.from_table(Tables(context).polars(items_table))


def _has_alias(context: Context, model: str, alias: str) -> bool:
    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        try:
            return reg.alias(reg.model(model), alias) is not None
        except NotFoundError:
            return False


def _fit_and_register(
    context: Context,
    events: pl.DataFrame,
    model: str,
    name: str,
    params: dict[str, Any],
    options: dict[str, Any],
    items: Any,
    trained_until: datetime,
) -> int:
    from kibble.recsys.training import train as fit

    fitted = fit(events, model=name, params=params, items=items, interaction_options=options)
    ref = context.save_artifact(fitted.blob, NPZ, name=f"{model}-{name}", meta=fitted.summary)
    version = register_model(
        context,
        model,
        ref.digest,
        run_id=run_id(),
        params={"model": name, **fitted.model.params},
        metrics={
            "trained_until": trained_until.isoformat(),
            "interactions": fitted.summary["interactions"],
            "seconds": fitted.summary["seconds"],
        },
        lineage={"interactions": options, "candidate": name},
    )["version"]
    log(f"registered {model} v{version} ({name}, {fitted.summary['interactions']} interactions)")
    return int(version)


@step(cache=False)
def train(
    check: dict[str, Any],
    day: str,
    model: str,
    candidates: dict[str, dict[str, Any]],
    table: str = "events",
    items_table: str | None = None,
    history_days: int = 14,
    time_col: str = "ts",
    event_col: str | None = "event_type",
    baseline: str = "popularity",
) -> dict[str, Any]:
    """Fit each candidate (name -> params) on the history before ``day`` and register it;
    ``day`` itself is the gate's holdout. A model with no baseline yet gets one first
    (``baseline``, on all data up to ``day``), which also serves as the first champion."""
    options = {"time_col": time_col, "event_col": event_col}
    with step_context() as context:
        items = _items(context, items_table)
        if not _has_alias(context, model, "baseline"):
            events = _window(context, table, day, history_days, include_day=True)
            until = datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), UTC)
            version = _fit_and_register(context, events, model, baseline, {}, options, items, until)
            _bootstrap(context, model, version)
            return {"day": day, "versions": {}, "baseline": version}
        events = _window(context, table, day, history_days, include_day=False)
        until = datetime.combine(date.fromisoformat(day), time(), UTC)
        versions = {
            name: _fit_and_register(
                context, events, model, name, dict(params), options, items, until
            )
            for name, params in sorted(candidates.items())
        }
    return {"day": day, "versions": versions}


def _bootstrap(context: Context, model: str, version: int) -> None:
    with context.store.session() as session:
        reg = Registry(session, context.project_id)
        for alias in ("baseline", "champion"):
            if reg.alias(reg.model(model), alias) is None:
                reg.move_alias(
                    model,
                    alias,
                    version,
                    actor=context.actor,
                    reason="first model: the baseline",
                )
    log(f"{model} v{version} is the baseline and first champion")


LIFTS = ("beats_baseline", "not_worse_than_champion")
"""Checks whose measure is a lift's lower bound against a reference every candidate of
the run shares (the same users): the first present ranks the passers."""


def _lift(checks: list[Any]) -> float:
    measured = {c.name: float(c.measured) for c in checks}
    return next((measured[name] for name in LIFTS if name in measured), 0.0)


@step(cache=False)
def gate(train: dict[str, Any], model: str, table: str = "events") -> dict[str, Any]:
    """Gate every version the run registered; returns the passers, best first: by the
    lower bound of their lift over the baseline, or over the champion when the policy
    does not ask to beat the baseline (never by name)."""
    passed: list[dict[str, Any]] = []
    refused: list[dict[str, Any]] = []
    with step_context() as context:
        for name, version in sorted(train["versions"].items()):
            report = gate_model(context, model, int(version), table=table)
            failed = [c.name for c in report.checks if not c.passed]
            score = _lift(report.checks)
            entry = {"candidate": name, "version": version, "failed": failed, "score": score}
            (passed if report.passed else refused).append(entry)
            log(f"{model} v{version} ({name}): " + ("passed" if report.passed else f"{failed}"))
    passed.sort(key=lambda e: -float(e["score"]))
    return {"day": train["day"], "passed": passed, "refused": refused}


@step(cache=False)
def rollout(gate: dict[str, Any], model: str, deployment: str) -> dict[str, Any]:
    """Start a rollout of the best passer under the deployment's declared policy; the
    controller decides from live traffic. One rollout at a time: a running one is left
    to finish and the passer waits as challenger."""
    from kibble.rollouts import service as rollouts

    if not gate["passed"]:
        log("no candidate passed the gates; the champion keeps serving")
        return {"started": None}
    best = gate["passed"][0]
    with step_context() as context:
        try:
            started = rollouts.start(context, deployment, model, f"{model}:{best['version']}")
        except ConflictError as exc:
            log(f"rollout not started: {exc}")
            return {"started": None, "reason": str(exc)}
    log(f"rollout of {model}:{best['version']} started ({started['policy']})")
    return {"started": started}
