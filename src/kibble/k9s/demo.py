"""The K9s demo: a driver around the platform, not a second platform.

Per simulated day the driver (1) writes the shop's landing files and database with the
simulator, (2) moves its clock to 07:00 the next morning and lets the scheduler run the
applied K9s factory's daily pipeline (``tick``: data gates, train, gate, rollout), and
(3) plays the customers on the real serving app, who react to what they were shown and
to the latency they met; after each wave of visits the rollout controller judges the
traffic (``step_rollout``). A late partition arrives the day after and the held run is
re-checked; from the incident day a fault on the serving app slows a share of answers
until the monitors' feedback-loop check alerts; after the cats launch the team edits
the factory (``with_cats``), plans and applies it.

Before the first day the shop brings its past: ``history`` days of its own events land
through the factory's events source and the monitor is backfilled over them, as a team
adopting kibble would do, so the monitors judge the first days against a real baseline.
Everything the summary reports is read back from the store: runs, versions and their
gate reports, rollouts and their decisions, factory versions, alerts.

It imports kibble's public API only, as any user's project would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from kibble import (
    Context,
    Factory,
    Fault,
    GatePolicy,
    apply_factory,
    describe_model,
    ingest_source,
    list_alerts,
    monitor_deployment,
    plan_factory,
    rollout_history,
    serving_app,
    step_rollout,
)
from kibble.errors import NotFoundError
from kibble.k9s.config import SimConfig
from kibble.k9s.customers import Tally, new_tallies, visit
from kibble.k9s.factory import (
    DAILY,
    DEPLOYMENT,
    DOG_SPECIES,
    MODEL,
    k9s_factory,
    products_table,
    with_cats,
)
from kibble.k9s.shop import Shop
from kibble.k9s.simulate import (
    deliver_late,
    save_config,
    write_database,
    write_day,
)
from kibble.pipelines import recheck_held, tick

RUN_AT = clock_time(7, 0)
OPEN, LAST = 8 * 60, 23 * 60 + 30  # the first and last wave of visits (minutes)
WAVES = 6  # visits arrive in waves; the controller judges after each
INCIDENT = Fault(delay_ms=1500.0, share=0.8)
"""The incident: most answers wait 1.5 s on the request path (customers leave). It
lasts until the feedback-loop alert is raised: nothing else tells the team."""
HISTORY_DAYS = 14
"""Days of the shop's events before it adopted kibble: the monitors' first baseline (the
feedback-loop check needs two weeks to read a weekly cycle) and the first models' data."""


def default_scenarios(days: int) -> dict[str, int]:
    """A held run early, the cats launch mid-way, a latency incident over the last two
    days (the last morning's monitor sees two slow days and alerts)."""
    if days < 6:
        return {"late_partition": min(1, days - 1)}
    return {"late_partition": 1, "cats_launch": days // 2 - 1, "latency_incident": days - 2}


VISITS_PER_DAY = 600
"""Customers asking for a list each day: enough for the controller's 200 impressions a
canary step, at any shop size."""


@dataclass
class Clock:
    """The simulated time; the serving app stamps its answers with it."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Driver:
    context: Context
    shop: Shop
    out: Path
    clock: Clock
    factory: Factory
    visits: int
    days: list[dict[str, Any]] = field(default_factory=list)
    factory_versions: list[dict[str, Any]] = field(default_factory=list)
    cats: dict[str, Tally] = field(default_factory=dict)
    storefront: Context | None = None
    step: Callable[[str], None] = lambda _what: None
    """Told what the day is doing now (the CLI's progress bar shows it)."""
    cats_day: int | None = None
    step_since: datetime | None = None
    rollout_id: str | None = None
    seen: dict[str, int] = field(default_factory=lambda: {"rollouts": 0, "decisions": 0})
    alerts_seen: set[str] = field(default_factory=set)
    incident_over: bool = False
    slowed: set[int] = field(default_factory=set)
    """Days the customers met the incident's fault."""
    history: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> SimConfig:
        return self.shop.config

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        """Simulated time on day ``day`` (0-based) of the shop."""
        return datetime.combine(self.config.day(day), clock_time(hour, minute), UTC)

    def apply(self, factory: Factory, note: str) -> dict[str, Any]:
        """Plan, then apply, as `kibble plan` / `kibble apply` do; the scheduler's slots
        start from the simulated now."""
        changes = plan_factory(self.context, factory).as_dict()["changes"]
        version, _ = apply_factory(self.context, factory, note=note, now=self.clock.now)
        self.factory = factory
        entry = {
            "version": version.version,
            "applied_at": self.clock.now.isoformat(),
            "note": note,
            "changes": [f"{c['kind']} {c['path']}" for c in changes]
            if self.factory_versions
            else [f"first version ({len(changes)} settings)"],
        }
        self.factory_versions.append(entry)
        return entry

    def onboard(self, history: int) -> dict[str, Any]:
        """The shop's past before its first morning with kibble: each day's events land
        through the factory's events source (``kibble ingest --source events
        --partition DAY``), then one monitor pass over them (``kibble monitor run
        --deployment k9s --since 14d``) records their daily metrics."""
        if not history:
            return {"days": 0}
        self.step("landing the shop's history")
        self.clock.now = self.at(history, 0)
        events = 0
        for day in range(history):
            written = write_day(self.shop, self.out, day)
            loaded = ingest_source(
                self.context, "events", partition=written.date, mode="replace-partition"
            )
            events += loaded.rows_written
        write_database(self.shop, self.out, history - 1)
        self.step("backfilling the monitors")
        report = monitor_deployment(
            self.context, DEPLOYMENT, since=f"{history}d", until=self.clock.now
        )
        return {
            "days": history,
            "first": self.config.day(0).isoformat(),
            "last": self.config.day(history - 1).isoformat(),
            "events": events,
            "metric_points": report.points,
        }

    # -- the day --------------------------------------------------------------------------

    def run_day(self, day: int) -> dict[str, Any]:
        """Day ``day``'s data lands; the next morning the scheduler runs the factory's
        pipeline for it; then the customers of that next day visit."""
        entry: dict[str, Any] = {"date": self.config.day(day).isoformat(), "alerts": []}
        self.step("landing the day's files")
        self.clock.now = self.at(day, 23)
        resumed = self._recheck(deliver_late(self.out))  # yesterday's late files arrive
        write_day(self.shop, self.out, day)
        write_database(self.shop, self.out, day)
        if self.cats_day is not None and day == self.cats_day + 1:
            # a day of cat owners' numbers in: the team edits the factory in git, `kibble
            # plan` shows the change, `kibble apply` makes the next version; held runs
            # are re-checked under it
            self.clock.now = self.at(day + 1, 6)
            self.apply(with_cats(self.factory), "cats: contract, cold-start candidate, slice")
            resumed += self._recheck(["factory"])
        entry["resumed"] = resumed
        self.clock.now = self.at(day + 1, RUN_AT.hour)
        began = time.perf_counter()
        self.step("the factory's daily pipeline")
        report = tick(self.context, self.clock.now)
        ran = time.perf_counter()
        runs = [f for f in report.fired if f["schedule"] == DAILY]
        if runs:
            fired = runs[-1]
            entry.update(run_id=fired["run_id"], status=fired["status"])
            entry["held_reasons"] = [_reason(r) for r in fired["held_reasons"]]
        else:
            entry.update(run_id=None, status="not run", held_reasons=[])
        self._notice_rollout()
        self.step("customers visiting")
        entry["traffic"] = self._customers(day + 1)
        entry["seconds"] = {
            "pipeline": round(ran - began, 1),
            "customers": round(time.perf_counter() - ran, 1),
        }
        self._annotate(entry)
        return entry

    def _annotate(self, entry: dict[str, Any]) -> None:
        """What the day's runs trained and gated, what was rolled out, what the controller
        decided and which alerts were raised: read back from the store."""
        try:
            model = describe_model(self.context, MODEL)
        except NotFoundError:
            model = {"versions": [], "aliases": {"champion": None}}
        versions = _versions(model)
        labels = {f"{MODEL}:{v['version']}": v["model"] for v in versions}
        runs = {entry["run_id"], *entry["resumed"]}
        made = [v for v in versions if v["run_id"] in runs]
        entry["trained"] = [v["model"] for v in made]
        entry["passed"] = [v["model"] for v in made if v["gate"] == "passed"]
        entry["refused"] = [v["model"] for v in made if v["gate"] == "refused"]
        rollouts = rollout_history(self.context, DEPLOYMENT)
        entry["rolled_out"] = [
            labels.get(r["challenger"], r["challenger"]) for r in rollouts[self.seen["rollouts"] :]
        ]
        decided = [(r, d) for r in rollouts for d in r["decisions"]]
        entry["decided"] = [
            f"{d['action']} {labels.get(r['challenger'], r['challenger'])}"
            for r, d in decided[self.seen["decisions"] :]
        ]
        self.seen = {"rollouts": len(rollouts), "decisions": len(decided)}
        alerts = list_alerts(self.context, status=None, limit=1000)
        entry["alerts"] = [a["kind"] for a in alerts if a["id"] not in self.alerts_seen]
        self.alerts_seen |= {a["id"] for a in alerts}
        champion = model["aliases"]["champion"]
        entry["champion"] = labels.get(f"{MODEL}:{champion}")

    def _recheck(self, arrived: list[str]) -> list[str]:
        """When something arrived (late files, a new factory version) held runs are
        re-checked, as `kibble runs recheck` does; those whose data is right now resume."""
        if not arrived:
            return []
        rechecked = recheck_held(self.context, self.clock.now, force=True)
        resumed = [r["run_id"] for r in rechecked if r["status"] == "succeeded"]
        for earlier in self.days:
            if earlier["run_id"] in resumed:
                earlier.update(status="resumed", resumed_on=self.clock.now.date().isoformat())
        return resumed

    def _notice_rollout(self) -> None:
        """A rollout the pipeline started is judged on traffic from its start."""
        rollouts = rollout_history(self.context, DEPLOYMENT)
        if (
            rollouts
            and rollouts[-1]["status"] == "active"
            and rollouts[-1]["id"] != self.rollout_id
        ):
            self.rollout_id = rollouts[-1]["id"]
            self.step_since = self.clock.now

    def _customers(self, day: int) -> dict[str, Any]:
        if day >= self.config.days:
            return {}
        fault = INCIDENT if self._slow(day) else None
        if fault is not None:
            self.slowed.add(day)
        tallies = asyncio.run(self._serve_day(day, fault))
        for group, tally in tallies.items():
            self.cats.setdefault(f"{day}:{group}", tally)
        return {group: t.to_dict() for group, t in tallies.items()} | {
            "date": self.config.day(day).isoformat(),
            "fault": None if fault is None else f"{fault.delay_ms:.0f} ms on {fault.share:.0%}",
        }

    def _slow(self, day: int) -> bool:
        """From the incident's first day until the feedback-loop alert is raised."""
        first = self.config.scenarios.get("latency_incident")
        if first is None or day < first or self.incident_over:
            return False
        alerts = list_alerts(self.context, status="open", limit=1000)
        self.incident_over = any(a["kind"] == "feedback_loop" for a in alerts)
        return not self.incident_over

    async def _serve_day(self, day: int, fault: Fault | None) -> dict[str, Tally]:
        assert self.storefront is not None, "run_demo opens the storefront first"
        app = serving_app(
            self.storefront, DEPLOYMENT, MODEL, poll_s=0.05, clock=self.clock, fault=fault
        )
        active = self.shop.users.user_id[self.shop.users.active(day)]
        rng = np.random.default_rng([self.config.seed, 8, day])
        users = [int(u) for u in rng.choice(active, min(len(active), self.visits), replace=False)]
        tallies = new_tallies()
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://k9s", timeout=60) as http,
        ):
            waves = np.array_split(np.array(users), WAVES)
            span = (LAST - OPEN) // (WAVES - 1)  # the last wave is in the day's last hour
            for i, wave in enumerate(waves):
                self.clock.now = self.at(day, 0) + timedelta(minutes=OPEN + i * span)
                done = await visit(
                    http, self.shop, day, [int(u) for u in wave], self.clock.now, tallies
                )
                if done.last_request is not None:
                    await self._judge(http, done.last_request)
        return tallies

    async def _judge(self, http: httpx.AsyncClient, last_request: str) -> None:
        """The rollout controller looks at the traffic of its current step; after a
        decision the app is let to pick the new split up before customers come back."""
        # asking for an answer's explanation waits until the request log holds it
        (await http.get(f"/v1/recommendations/{last_request}")).raise_for_status()
        before = (await http.get("/readyz")).json()["v"]
        try:
            verdict = step_rollout(self.context, DEPLOYMENT, since=self.step_since)
        except NotFoundError:
            return  # no rollout in progress
        if verdict["action"] in ("hold", "skipped"):
            return
        self.step_since = self.clock.now
        for _ in range(400):  # the app polls the store every 50 ms
            if (await http.get("/readyz")).json()["v"] > before:
                return
            await asyncio.sleep(0.025)


def _reason(text: str) -> dict[str, str]:
    """``[step: ]kind: message`` (what the check step holds with) as a dict."""
    parts = text.split(": ", 2)
    if len(parts) == 3 and not parts[0].startswith("data_"):
        parts = parts[1:]
    kind, message = parts if len(parts) == 2 else ("data", text)
    return {"kind": kind, "message": message}


# -- the summary, read back from the store -----------------------------------------------


def _label(version: dict[str, Any]) -> str:
    return f"{version['params'].get('model', version['flavor'])}-v{version['version']}"


def _versions(model: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for v in model["versions"]:
        gate = v["gate"]
        failed = [c["name"] for c in (gate or {}).get("checks", []) if not c["passed"]]
        out.append(
            {
                "version": v["version"],
                "model": _label(v),
                "run_id": v["run_id"],
                "factory_version": v["lineage"].get("factory_version"),
                "trained_until": v["metrics"].get("trained_until"),
                "status": v["status"],
                "gate": None if gate is None else ("passed" if gate["passed"] else "refused"),
                "failed_checks": failed,
            }
        )
    return out


def _decisions(
    rollouts: list[dict[str, Any]], labels: dict[str, str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Promotions, rollbacks and the A/B numbers the controller decided on."""
    promotions: list[dict[str, Any]] = []
    rollbacks: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for r in rollouts:
        final = next((d for d in r["decisions"] if d["action"] in ("promote", "rollback")), None)
        if final is None:
            continue
        # the A/B numbers are those of the last step that still had a control arm
        compared = [d for d in r["decisions"] if "ctr_challenger" in d["numbers"]]
        numbers = {**(compared[-1]["numbers"] if compared else {}), **final["numbers"]}
        entry = {
            "rollout_id": r["id"],
            "policy": r["policy"],
            "challenger": labels.get(r["challenger"], r["challenger"]),
            "champion": labels.get(r["champion"], r["champion"]),
            "version": int(r["challenger"].rpartition(":")[2]),
            "reason": "; ".join(final["reasons"]),
            "champion_ctr": _round(numbers.get("ctr_champion")),
            "challenger_ctr": _round(numbers.get("ctr_challenger")),
            "ci95": [_round(numbers.get("lift_ci_low")), _round(numbers.get("lift_ci_high"))]
            if "lift_ci_low" in numbers
            else None,
            "p99_ms": _round(numbers.get("p99_ms")),
            "decided_by": "rollout controller",
        }
        (promotions if final["action"] == "promote" else rollbacks).append(entry)
        results.append({**entry, "decision": final["action"], "decisions": r["decisions"]})
    return promotions, rollbacks, results


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 4)


def _alerts(context: Context) -> list[dict[str, Any]]:
    out = []
    for alert in reversed(list_alerts(context, status=None, limit=1000)):
        evidence = alert["evidence"]
        # the simulated day the evidence is about (alerts are stamped with the wall clock)
        windows = [w["window_start"][:10] for w in evidence.get("recent") or []]
        days = evidence.get("days") or windows or [None]
        out.append(
            {
                "date": evidence.get("day") or days[-1],
                "kind": alert["kind"],
                "status": alert["status"],
                "severity": alert["severity"],
                "message": alert["message"],
                "evidence": evidence,
            }
        )
    return out


def _cats(driver: Driver) -> dict[str, Any]:
    """Cat owners' CTR per day the customers visited, before and after the factory change;
    days of a serving fault are listed but not compared (customers left before looking)."""
    changed = (
        driver.factory_versions[-1]["applied_at"] if len(driver.factory_versions) > 1 else None
    )
    days = []
    before, after = Tally(), Tally()
    for d in range(driver.config.days):
        tally = driver.cats.get(f"{d}:cat owners")
        if tally is None or tally.visits == 0:
            continue
        day = driver.config.day(d).isoformat()
        slowed = d in driver.slowed
        days.append({"date": day, **tally.to_dict(), "fault": slowed})
        if slowed:
            continue
        late = changed is not None and day >= changed[:10]
        target = after if late else before
        target.visits += tally.visits
        target.clicked += tally.clicked
    return {
        "factory_changed": changed,
        "ctr_before": round(before.ctr, 4),
        "ctr_after": round(after.ctr, 4) if after.visits else None,
        "visits_before": before.visits,
        "visits_after": after.visits,
        "days": days,
    }


def day_line(entry: dict[str, Any]) -> str:
    """One line per simulated day: arrived, held, trained, gated, rolled out, decided,
    alerted, and what the day's customers met."""
    parts = [f"{entry['date']}: {entry['status']}"]
    if entry["held_reasons"]:
        parts.append("held: " + "; ".join(r["kind"] for r in entry["held_reasons"]))
    if entry["resumed"]:
        parts.append(f"resumed {len(entry['resumed'])} held run(s)")
    for key, title in (
        ("trained", "trained"),
        ("passed", "passed"),
        ("refused", "refused"),
        ("rolled_out", "rolled out"),
        ("decided", "decided"),
        ("alerts", "alerts"),
    ):
        if entry.get(key):
            parts.append(f"{title} {', '.join(entry[key])}")
    traffic = entry.get("traffic") or {}
    if traffic:
        seen = traffic["all"]
        parts.append(
            f"customers {traffic['date']}: {seen['visits']} visits, CTR {seen['ctr']:.3f}, "
            f"p99 {seen['p99_ms']:.0f} ms"
        )
        if traffic["cat owners"]["visits"]:
            parts.append(f"cat owners CTR {traffic['cat owners']['ctr']:.3f}")
        if traffic["fault"]:
            parts.append(f"fault: {traffic['fault']}")
    parts.append(f"champion {entry.get('champion')}")
    return " | ".join(parts)


def summarize(driver: Driver, started: float, home: Path) -> dict[str, Any]:
    context = driver.context
    model = describe_model(context, MODEL)
    versions = _versions(model)
    labels = {f"{MODEL}:{v['version']}": v["model"] for v in versions}
    rollouts = rollout_history(context, DEPLOYMENT)
    promotions, rollbacks, results = _decisions(rollouts, labels)
    champion = model["aliases"]["champion"]
    config = driver.config
    return {
        "home": str(home),
        "shop": str(driver.out),
        "model": MODEL,
        "deployment": DEPLOYMENT,
        "config": {
            "products": config.products,
            "users": config.users,
            "start": config.start.isoformat(),
            "seed": config.seed,
            "visits_per_day": driver.visits,
            "scenarios": config.scenarios,
        },
        "history": driver.history,
        "days": driver.days,
        "versions": versions,
        "factory_versions": driver.factory_versions,
        "promotions": promotions,
        "rollbacks": rollbacks,
        "ab_results": results,
        "cats": _cats(driver),
        "alerts": _alerts(context),
        "champion": labels.get(f"{MODEL}:{champion}") if champion else None,
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def run_demo(
    home: Path,
    config: SimConfig,
    *,
    context: Context,
    history: int = 0,
    on_day: Callable[[dict[str, Any]], None] | None = None,
    on_step: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole demo in ``home``; returns the summary (the `--json` document).

    The first ``history`` days of ``config`` are the shop's past (``Driver.onboard``);
    kibble runs the shop from the day after."""
    started = time.perf_counter()
    out = home / "k9s"
    save_config(config, out)
    shop = Shop.build(config)
    clock = Clock(datetime.combine(config.start, clock_time(12, 0), UTC))
    factory = demo_factory(context.project, out)
    driver = Driver(context, shop, out, clock, factory, VISITS_PER_DAY)
    driver.cats_day = config.scenarios.get("cats_launch")
    driver.storefront = storefront(context)
    if on_step is not None:
        driver.step = on_step
    try:
        driver.apply(factory, "kibble demo: the K9s factory")
        driver.history = driver.onboard(history)
        for day in range(history, config.days):
            entry = driver.run_day(day)
            entry["factory_version"] = driver.factory_versions[-1]["version"]
            driver.days.append(entry)
            if on_day is not None:
                on_day(entry)
    finally:
        driver.storefront.close()
    return summarize(driver, started, home)


def storefront(context: Context) -> Context:
    """The serving app's context: the shop's pages send their customers' clicks straight
    from the browser, so feedback is public (only signed request ids attribute a click)."""
    settings = context.settings
    public = settings.serving.model_copy(update={"public_feedback": True})
    return Context.open(
        settings.model_copy(update={"serving": public}), project=context.project, actor="k9s-shop"
    )


def demo_factory(project: str, shop: Path) -> Factory:
    """The K9s factory as the demo ships it; where it departs from the template, why:

    - the catalogue's contract names the species the shop sells (dogs only, so far) and
      the daily data gates check the products table as well as the day's events;
    - the gate is lenient offline: on the simulator's sparse next day, popularity (the
      dozen items everybody views) wins NDCG, yet customers click personal lists more.
      A candidate may trail the champion by 0.05 NDCG (0.1 on warm users) and the live
      canary, judged by the rollout controller on real clicks, decides;
    - the canary goes 50% -> 100% on 200 impressions a step: a simulated day brings
      hundreds of visits, not the thousands a 10% step would need;
    - the p99 limit (the probe's and the canary's) is 300 ms, not 50: the storefront
      runs in-process on the same two cores as the day's training, probes and customers,
      and measures what it meets. Customers start leaving at 300 ms (``k9s.response``),
      and the incident's 1.5 s answers are far past it."""
    factory = k9s_factory(project, shop)
    daily = factory.pipelines[DAILY]
    checked = {**daily.params, "tables": ["events", "products"]}
    gates = GatePolicy(
        primary_metric="ndcg@10",
        beat_baseline=False,
        champion_tolerance=0.05,
        slice_tolerance={"warm": 0.1},
        latency_sla_ms=300.0,
    )
    rollout = factory.deployments[DEPLOYMENT].model_copy(
        update={"steps": [50.0, 100.0], "min_samples": 200, "p99_latency_ms": 300.0}
    )
    return factory.model_copy(
        update={
            "tables": {"products": products_table(DOG_SPECIES)},
            "pipelines": {**factory.pipelines, DAILY: daily.model_copy(update={"params": checked})},
            "models": {MODEL: gates},
            "deployments": {DEPLOYMENT: rollout},
        }
    )


__all__ = ["Driver", "day_line", "default_scenarios", "demo_factory", "run_demo"]
