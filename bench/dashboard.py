"""Dashboard page latency with a realistic year of data (issue 9): every nav page and the
detail pages, rendered by the real control-plane app over uvicorn and the SQLite store.

Seeded through the project's own repositories: 365 daily runs of a six-step pipeline
(a few held, a few failed) with logs and lineage edges, a model with 50 versions, a
gate report each, champion moves, ~50 rollouts with their decisions, a table with 365
versions, loads and ~7 checks per partition (drift among them), 20 metric series of
daily points, ~30k served requests with feedback and ~200 alerts.

Baseline: the JSON REST API calls that return the same rows, on the same server and
store, signed in with the same token. The ratio is what rendering a page (its extra
queries, charts and HTML) costs over just reading its rows.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.api import p, serve
from bench.harness import Bench
from kibble.api import create_app
from kibble.auth import bootstrap_admin
from kibble.config import load_settings
from kibble.context import Context
from kibble.monitoring.points import Point
from kibble.monitoring.store import record_metrics
from kibble.rollouts.service import traffic
from kibble.store.models import ModelVersion, Run, StepRun
from kibble.store.repositories.data import DataRecords
from kibble.store.repositories.deployments import Deployments
from kibble.store.repositories.monitoring import AlertRecords
from kibble.store.repositories.pipelines import RunRecords
from kibble.store.repositories.registry import Registry
from kibble.store.repositories.serving import Feedback, Rollouts, ServedRequests

DAYS = 365
VERSIONS = 50
SERVED = 30_000
CLICKS = 6_000
ALERTS = 200
REQUESTS = 30
WARMUP = 3
TARGET_P95_MS = 500.0
PROJECT = "k9s"
MODEL = "recommender"
DEPLOYMENT = "home"
TABLE = "events"
STEPS = ["ingest", "validate", "features", "train", "evaluate", "register"]
DAG = {name: ([STEPS[i - 1]] if i else []) for i, name in enumerate(STEPS)}
ROLLOUT_STEPS = [0.05, 0.25, 0.5, 1.0]
CHECKS = [
    "schema",
    "completeness:user_id",
    "completeness:item_id",
    "freshness",
    "volume",
    "unique:event_id",
    "drift:species",
]


def digest(kind: str, day: int) -> str:
    return "sha256:" + f"{kind}{day:04d}".encode().hex().ljust(64, "0")[:64]


# seeding ---------------------------------------------------------------------------------


class Year:
    """The seeded year: what the timed requests need to name (ids, days)."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.run_ids: list[str] = []
        self.model_days = [min(DAYS - 1, 3 + (i * DAYS) // VERSIONS) for i in range(VERSIONS)]
        self.request_ids: list[str] = []

    def day(self, d: int, hours: float = 0.0) -> datetime:
        return self.start + timedelta(days=d, hours=hours)

    def status_of(self, d: int) -> str:
        if d in self.model_days or d == DAYS - 1:
            return "succeeded"
        if d % 29 == 11:
            return "held"
        if d % 31 == 7:
            return "failed"
        return "succeeded"


def seed_runs(ctx: Context, year: Year, rng: random.Random) -> None:
    """365 daily runs, six steps each, with logs and the lineage edges a run records."""
    with ctx.store.session() as s:
        records = RunRecords(s, ctx.project_id)
        runs = []
        for d in range(DAYS):
            status = year.status_of(d)
            began = year.day(d, 2)
            run = Run(
                project_id=ctx.project_id,
                pipeline="k9s-daily",
                kind="pipeline",
                status=status,
                params={"day": f"{year.day(d):%Y-%m-%d}", "factors": 64},
                code_version={"git": f"{d:07x}", "steps": {n: f"h{n}{d % 5}" for n in STEPS}},
                environment={"python": "3.12", "kibble": "0.9"},
                metrics={"ndcg@10": 0.2 + rng.random() / 20} if status == "succeeded" else {},
                tags={"dag": DAG},
                held_reasons=[f"events for {year.day(d):%Y-%m-%d} are late (deadline 02:00)"]
                if status == "held"
                else [],
                error="train: out of memory" if status == "failed" else None,
                started_at=began,
                ended_at=None if status == "held" else began + timedelta(minutes=25),
                created_at=began,
            )
            runs.append(run)
        s.add_all(runs)
        s.flush()
        year.run_ids = [r.id for r in runs]
        steps, logs = [], 0
        for d, run in enumerate(runs):
            t = year.day(d, 2)
            for i, name in enumerate(STEPS):
                if run.status == "held":
                    state = "held" if name == "validate" else ("succeeded" if i == 0 else "pending")
                elif run.status == "failed":
                    state = "failed" if name == "train" else ("succeeded" if i < 3 else "pending")
                else:
                    state = "succeeded"
                began = t + timedelta(minutes=4 * i)
                done = state in ("succeeded", "failed")
                out = {"value": {"digest": digest(name, d)}} if state == "succeeded" else {}
                steps.append(
                    StepRun(
                        project_id=ctx.project_id,
                        run_id=run.id,
                        name=name,
                        status=state,
                        cache_key=f"{name}-{d}",
                        cached=name == "ingest" and d % 10 == 0,
                        attempts=2 if state == "failed" else (1 if done else 0),
                        inputs={"params": {"day": run.params["day"]}},
                        outputs=out,
                        error="CUDA out of memory" if state == "failed" else None,
                        started_at=began if state != "pending" else None,
                        ended_at=began + timedelta(minutes=4) if done else None,
                        created_at=t,
                    )
                )
                if state != "pending":
                    lines = [
                        {"level": "INFO", "message": f"{name} started", "at": began},
                        {"level": "INFO", "message": f"{name}: 98,000 rows", "at": began},
                    ]
                    if state != "succeeded":
                        lines.append(
                            {"level": "WARNING", "message": f"{name} {state}", "at": began}
                        )
                    records.add_logs(run.id, name, lines)
                    logs += len(lines)
            if run.status != "succeeded":
                continue
            edges = {
                "ingest": [{"direction": "out", "kind": "table", "name": TABLE, "version": d + 1}],
                "features": [
                    {"direction": "in", "kind": "table", "name": TABLE, "version": d + 1},
                    {"direction": "out", "name": "features", "digest": digest("features", d)},
                ],
                "train": [
                    {"direction": "in", "name": "features", "digest": digest("features", d)},
                    {"direction": "out", "name": "model", "digest": digest("train", d)},
                ],
                "evaluate": [{"direction": "in", "name": "model", "digest": digest("train", d)}],
            }
            for step_name, rows in edges.items():
                records.add_edges(run.id, step_name, rows)
        s.add_all(steps)


def seed_registry(ctx: Context, year: Year, rng: random.Random) -> None:
    """50 versions (one every ~week), a gate report each, champion moves, ~50 rollouts."""
    with ctx.store.session() as s:
        registry = Registry(s, ctx.project_id)
        rollouts = Rollouts(s, ctx.project_id)
        versions: list[ModelVersion] = []
        reports: list[str] = []
        for k, d in enumerate(year.model_days, start=1):
            v = registry.register_version(
                MODEL,
                digest("train", d),
                "als",
                params={"factors": 64, "regularization": 0.01 * (1 + k % 3)},
                metrics={
                    "ndcg@10": round(0.2 + k / 1000 + rng.random() / 50, 4),
                    "recall@20": round(0.3 + k / 800 + rng.random() / 40, 4),
                    "map@10": round(0.1 + rng.random() / 30, 4),
                    "coverage": round(0.4 + rng.random() / 10, 4),
                },
                lineage={"tables": {TABLE: d + 1}, "day": f"{year.day(d):%Y-%m-%d}"},
                run_id=year.run_ids[d],
            )
            v.created_at = year.day(d, 3)
            passed = k == 1 or k % 5 != 0
            checks = [
                {"name": "beats_baseline", "passed": passed},
                {"name": "ndcg_not_worse", "passed": passed},
                {"name": "coverage_floor", "passed": True},
                {"name": "latency_p99", "passed": True},
            ]
            reports.append(registry.save_report(v, {"checks": checks}, passed=passed))
            versions.append(v)
        registry.move_alias(MODEL, "baseline", 1, actor="ada", reason="first model")
        registry.move_alias(
            MODEL, "champion", 1, actor="ada", reason="first model", gate_report_id=reports[0]
        )
        Deployments(s, ctx.project_id).save(DEPLOYMENT, MODEL, {})
        champion = 1
        for k in range(2, VERSIONS + 1):
            d = year.model_days[k - 1]
            rollout = rollouts.start(
                DEPLOYMENT, f"{MODEL}:{champion}", f"{MODEL}:{k}", "gradual", ROLLOUT_STEPS
            )
            rollout.created_at = year.day(d, 4)
            gate_failed = k % 5 == 0
            n_decisions = 2 if k == VERSIONS else rng.choice((2, 3, 4))
            for i in range(n_decisions):
                last = i == n_decisions - 1 and k != VERSIONS
                impressions = 2000 * (i + 1)
                ctr_a = 0.10 + rng.random() / 100
                lift = (-0.01 if gate_failed else 0.01) + rng.random() / 200
                if last:
                    action = "rollback" if gate_failed else "promote"
                    state = "rolled_back" if gate_failed else "promoted"
                else:
                    action, state = "advance", "active"
                decision = rollouts.record(
                    rollout,
                    action,
                    min(i + 1, len(ROLLOUT_STEPS) - 1),
                    state,
                    [f"step {i} {'healthy' if not gate_failed else 'lift below zero'}"],
                    {
                        "ctr_champion": ctr_a,
                        "ctr_challenger": ctr_a + lift,
                        "lift": lift,
                        "lift_ci_low": lift - 0.006,
                        "lift_ci_high": lift + 0.006,
                        "impressions_champion": impressions,
                        "impressions_challenger": impressions,
                        "challenger_share": ROLLOUT_STEPS[min(i, len(ROLLOUT_STEPS) - 1)],
                    },
                )
                decision.created_at = year.day(d, 5 + 24 * i)
            if not gate_failed and k != VERSIONS:
                registry.move_alias(
                    MODEL,
                    "champion",
                    k,
                    actor="scheduler",
                    reason=f"rollout of v{k} won the A/B",
                    gate_report_id=reports[k - 1],
                )
                champion = k
        Deployments(s, ctx.project_id).save(
            DEPLOYMENT, MODEL, traffic(s, ctx.project_id, DEPLOYMENT, MODEL)
        )


def seed_data(ctx: Context, year: Year, rng: random.Random) -> None:
    """Table ``events``: 365 versions, a load and ~7 checks per daily partition."""
    with ctx.store.session() as s:
        records = DataRecords(s, ctx.project_id)
        events = records.ensure_dataset(TABLE, "lake/events", {"columns": ["user_id", "item_id"]})
        s.flush()
        checks: list[dict[str, Any]] = []
        for d in range(DAYS):
            partition = f"{year.day(d):%Y-%m-%d}"
            rows = 95_000 + rng.randrange(10_000)
            at = year.day(d, 1.5)
            tv = records.record_version(
                events,
                d + 1,
                row_count=rows,
                operation="append",
                details={"partition": partition, "files": 4},
                run_id=year.run_ids[d],
            )
            tv.created_at = at
            records.start_load(
                events,
                source=f"s3://k9s-raw/events/{partition}.parquet",
                source_kind="file",
                mode="append",
                partition=partition,
                status="succeeded",
                rows_read=rows + 40,
                rows_written=rows,
                rows_rejected=rng.randrange(40),
                rows_duplicate=rng.randrange(20),
                table_version=d + 1,
                partitions=[partition],
                created_at=at,
                finished_at=at + timedelta(minutes=3),
            )
            reports = [(f"r{d:03d}a", at)]
            if d % 29 == 11:  # late delivery: a failing report, then the re-delivered one
                reports.insert(0, (f"r{d:03d}x", at - timedelta(hours=1)))
            for report_id, when in reports:
                failed = report_id.endswith("x")
                psi = rng.random() / 8
                for name in CHECKS:
                    drift = name.startswith("drift:")
                    state = (
                        "fail"
                        if failed and name == "volume"
                        else ("warn" if drift and psi > 0.1 else "pass")
                    )
                    checks.append(
                        {
                            "report_id": report_id,
                            "table_version": d + 1,
                            "partition": partition,
                            "name": name,
                            "status": state,
                            "observed": {"psi": round(psi, 4)}
                            if drift
                            else {"rows": 3 if failed else rows},
                            "expected": {"psi_warn": 0.1} if drift else {"min_rows": 50_000},
                            "message": f"{name} {state}",
                            "created_at": when,
                        }
                    )
        records.record_checks(events, checks)


def seed_metrics(ctx: Context, year: Year, rng: random.Random) -> None:
    """20 series of one point a day: model quality, serving health, drift and data."""
    series: list[tuple[str, dict[str, str], float]] = []
    for arm in ("champion", "challenger"):
        labels = {"deployment": DEPLOYMENT, "arm": arm}
        series += [
            ("model.ctr", labels, 0.1),
            ("model.conversion_rate", labels, 0.02),
            ("model.coverage", labels, 0.4),
            ("model.novelty", labels, 3.0),
            ("serving.latency_p50_ms", labels, 8.0),
            ("serving.latency_p99_ms", labels, 40.0),
            ("serving.error_rate", labels, 0.001),
            ("serving.requests", labels, 80_000.0),
        ]
    series += [
        ("drift.psi", {"table": TABLE, "feature": "species"}, 0.05),
        ("drift.psi", {"table": TABLE, "feature": "price"}, 0.03),
        ("data.rows", {"table": TABLE}, 100_000.0),
        ("data.freshness_hours", {"table": TABLE}, 1.5),
    ]
    points = [
        Point(name, base * (1 + (rng.random() - 0.5) / 5), year.day(d), year.day(d + 1), labels)
        for name, labels, base in series
        for d in range(DAYS)
    ]
    record_metrics(ctx, points)


def seed_serving(ctx: Context, year: Year, rng: random.Random) -> None:
    """~30k served requests across the year (who served them, per the rollouts) and clicks."""
    versions = year.model_days
    rows: list[dict[str, Any]] = []
    for i in range(SERVED):
        d = i * DAYS // SERVED
        live = max(k for k, day in enumerate(versions, start=1) if day <= max(d, versions[0]))
        challenger = rng.random() < 0.1 and live < VERSIONS
        arm = f"{MODEL}:{live + 1 if challenger else live}"
        rows.append(
            {
                "request_id": f"req-{i:06d}",
                "deployment": DEPLOYMENT,
                "user_id": f"u{rng.randrange(20_000)}",
                "arm": arm,
                "model_version": arm,
                "probability": 0.1 if challenger else 0.9,
                "items": [f"i{rng.randrange(100_000)}" for _ in range(10)],
                "ts": year.day(d, rng.random() * 24),
                "latency_ms": 5 + rng.random() * 30,
                "error": "timeout" if rng.random() < 0.001 else None,
            }
        )
    year.request_ids = [r["request_id"] for r in rows]
    clicks = [
        {
            "event_id": f"ev-{j:06d}",
            "user_id": row["user_id"],
            "item_id": row["items"][rng.randrange(10)],
            "event_type": "click",
            "ts": row["ts"] + timedelta(seconds=30),
            "session_id": f"s{j}",
            "request_id": row["request_id"],
            "arm": row["arm"],
        }
        for j, row in enumerate(rng.sample(rows, CLICKS))
    ]
    with ctx.store.session() as s:
        served = ServedRequests(s, ctx.project_id)
        for at in range(0, len(rows), 5000):
            served.add_many(rows[at : at + 5000])
        feedback = Feedback(s, ctx.project_id)
        for at in range(0, len(clicks), 2000):
            feedback.add(clicks[at : at + 2000])


def seed_alerts(ctx: Context, year: Year, rng: random.Random) -> None:
    """~200 alerts over the year, most resolved, a few still open."""
    kinds = [
        ("data_late", "critical", "events for {day} are late"),
        ("drift", "warning", "drift:species PSI above 0.1 on {day}"),
        ("ctr_drop", "warning", "model.ctr of home dropped 12% on {day}"),
        ("latency", "warning", "serving.latency_p99_ms above 80 ms on {day}"),
        ("feedback_loop", "info", "popularity concentration rising on {day}"),
    ]
    with ctx.store.session() as s:
        alerts = AlertRecords(s, ctx.project_id)
        for i in range(ALERTS):
            d = i * DAYS // ALERTS
            kind, severity, message = kinds[rng.randrange(len(kinds))]
            day = f"{year.day(d):%Y-%m-%d}"
            alert = alerts.create(
                kind=kind,
                fingerprint=f"{kind}:{day}",
                message=message.format(day=day),
                evidence={"day": day, "value": round(rng.random(), 3)},
                severity=severity,
            )
            alert.created_at = year.day(d, 6)
            alerts.record(alert, "raised", "monitor", {"day": day}).created_at = alert.created_at
            if i < ALERTS - 8:
                alert.status, alert.resolved_at = "resolved", year.day(d, 12)
                alerts.record(alert, "resolved", "monitor").created_at = year.day(d, 12)


def seed(ctx: Context, bench: Bench) -> Year:
    rng = random.Random(9)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    year = Year(today - timedelta(days=DAYS - 1))
    for name, part in (
        ("runs", seed_runs),
        ("registry", seed_registry),
        ("data", seed_data),
        ("metrics", seed_metrics),
        ("serving", seed_serving),
        ("alerts", seed_alerts),
    ):
        with bench.timed(f"seed_{name}_s"):
            part(ctx, year, rng)
    return year


# timing ----------------------------------------------------------------------------------


def latencies(client: httpx.Client, path: str) -> list[float]:
    for _ in range(WARMUP):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    out = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        response = client.get(path)
        out.append(time.perf_counter() - start)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return out


def sign_in(client: httpx.Client, token: str) -> None:
    response = client.post("/ui/login", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert client.cookies.get("kibble_session"), "the dashboard set no session cookie"


def main() -> None:
    bench = Bench("dashboard")
    home = Path(tempfile.mkdtemp()) / "home"
    settings = load_settings({"home": home}, environ={})
    ctx = Context.open(settings, project=PROJECT)
    with ctx.store.session() as s:
        token = bootstrap_admin(s, ctx.project_id, "alice", actor="bench").value
    with bench.timed("seed_total_s"):
        year = seed(ctx, bench)
    run_id = next(r for d, r in enumerate(year.run_ids) if year.status_of(d) == "held")
    request_id = year.request_ids[-1]
    api = f"/api/v1/projects/{PROJECT}"
    page_paths = {
        "overview": "/ui/overview",
        "runs": "/ui/runs",
        "run_detail": f"/ui/runs/{run_id}",
        "data": f"/ui/data?table={TABLE}",
        "models": "/ui/models",
        "model_detail": f"/ui/models/{MODEL}",
        "deployments": f"/ui/deployments?name={DEPLOYMENT}",
        "monitoring": "/ui/monitoring",
        "lineage": f"/ui/lineage?model={MODEL}&version={VERSIONS}",
        "explain": f"/ui/explain?request={request_id}",
    }
    api_paths = {
        "runs": f"{api}/runs?limit=50",
        "steps": f"{api}/runs/{run_id}/steps",
        "table_versions": f"{api}/datasets/{TABLE}/versions?limit=50",
        "models": f"{api}/models",
        "model_versions": f"{api}/models/{MODEL}/versions?limit=50",
        "rollouts": f"{api}/deployments/{DEPLOYMENT}/rollouts?limit=50",
        "alerts": f"{api}/alerts?limit=50",
    }
    shows = {  # what each page must show, so an empty or error page is never timed
        "overview": ['data-card="runs_today"><div class="value">1<', 'id="open-alerts"'],
        "runs": [f"{DAYS} run(s)", 'id="older"'],
        "run_detail": ['data-step="validate"', "are late", 'id="release"'],
        "data": ['id="partitions"', 'data-spec="spec-drift"', 'id="loads"'],
        "models": [f'id="model-{MODEL}"'],
        "model_detail": [f'id="lineage-{VERSIONS}"', 'id="alias-history"', "beats_baseline"],
        "deployments": ['id="ab-results"', 'data-spec="spec-arm-traffic"', 'id="decisions"'],
        "monitoring": ['id="metric-model-ctr"', 'id="alerts"'],
        "lineage": [f"Model {MODEL} v{VERSIONS}", 'id="lineage-upstream"', "events v"],
        "explain": [f"{MODEL}:", "What user", "click"],
    }
    comparable = {
        "runs": "runs",
        "run_detail": "steps",
        "data": "table_versions",
        "models": "models",
        "model_detail": "model_versions",
        "deployments": "rollouts",
        "monitoring": "alerts",
    }
    server, url = serve(create_app(settings, store=ctx.store, ui=True))
    timed: dict[str, list[float]] = {}
    with (
        httpx.Client(base_url=url) as browser,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        sign_in(browser, token)
        sizes: dict[str, int] = {}
        for name, path in page_paths.items():
            html = browser.get(path).text
            missing = [marker for marker in shows[name] if marker not in html]
            assert not missing, f"{path} does not show {missing}"
            sizes[name] = len(html)
            timed[f"page_{name}"] = latencies(browser, path)
        for name, path in api_paths.items():
            timed[f"api_{name}"] = latencies(client, path)
    server.should_exit = True
    for name, values in timed.items():
        bench.figure(f"{name}_p50", p(values, 50), "ms")
        bench.figure(f"{name}_p95", p(values, 95), "ms")
    for page, call in comparable.items():
        bench.ratio(
            f"{page}_page_p50_vs_api_{call}_p50",
            p(timed[f"page_{page}"], 50),
            p(timed[f"api_{call}"], 50),
        )
    slow = [name for name in page_paths if p(timed[f"page_{name}"], 95) >= TARGET_P95_MS]
    for name in page_paths:
        bench.target(
            f"{name}_p95_under_500ms",
            f"{name} page p95 < {TARGET_P95_MS:.0f} ms with a year of data",
            name not in slow,
        )
    bench.report(
        {
            "requests_per_case": REQUESTS,
            "slow_pages": slow,
            "page_bytes": sizes,
            "seeded": {
                "runs": DAYS,
                "step_runs": DAYS * len(STEPS),
                "model_versions": VERSIONS,
                "rollouts": VERSIONS - 1,
                "table_versions": DAYS,
                "served_requests": SERVED,
                "feedback_events": CLICKS,
                "alerts": ALERTS,
            },
        }
    )
    ctx.close()


if __name__ == "__main__":
    main()
