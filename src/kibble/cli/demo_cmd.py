"""`kibble k9s ...` (the shop simulator) and `kibble demo` (the closed loop, end to end)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

from kibble.cli.output import JsonOption, console, print_json, print_table
from kibble.cli.state import CliState, state
from kibble.errors import UsageError
from kibble.k9s.config import SCENARIOS, SimConfig, parse_scenarios

app = typer.Typer(
    help=(
        "The K9s pet shop simulator: a catalogue, customers with hidden tastes, daily event "
        "files and a shop database, with faults you can inject one flag at a time.\n\n"
        "Scenarios: " + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items())
    ),
    no_args_is_help=True,
)

ScenarioOption = typer.Option(
    [],
    "--scenario",
    "-s",
    help="inject a fault: NAME or NAME:DAY (0-based; default the day before the last). Repeatable.",
)

DEFAULT_DAYS = 10
"""Driven days of the default demo: the whole story (a held day, refusals, promotions, the
cats change and days after it, a two-day incident) inside ten minutes on two cores."""


@app.command("simulate")
def simulate_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="folder for landing files and shop.db"),
    days: int = typer.Option(14, "--days", help="days to simulate"),
    products: int = typer.Option(100_000, "--products", help="catalogue size"),
    users: int = typer.Option(20_000, "--users", help="number of customers"),
    seed: int = typer.Option(42, "--seed", help="same seed, same shop and events"),
    start: str = typer.Option("2026-12-01", "--start", help="first simulated day (YYYY-MM-DD)"),
    events_format: str = typer.Option("parquet", "--format", help="csv, jsonl or parquet"),
    scenario: list[str] = ScenarioOption,
    as_json: bool = JsonOption,
) -> None:
    """Simulate DAYS of the shop into OUT: events per day, products/users/orders in SQLite.

    Ingest the result with the real connectors, e.g. the SQLite URL printed at the end
    (tables products, users, orders) and one landing folder per day.
    """
    from datetime import date

    from rich.progress import Progress

    from kibble.k9s.simulate import simulate

    config = SimConfig(
        products=products,
        users=users,
        days=days,
        seed=seed,
        start=date.fromisoformat(start),
        events_format=events_format,
        scenarios=parse_scenarios(scenario, days),
    )
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("simulating days", total=days)
        result = simulate(config, out, progress=lambda _d: progress.advance(task))
    if as_json:
        print_json(result.to_dict())
        return
    rows = [[d.date, d.events, d.purchases, ", ".join(d.faults), d.path] for d in result.days]
    print_table("K9s days", ["date", "events", "purchases", "faults", "file"], rows)
    console.print(f"shop database: {result.database_url}")


@app.command("deliver")
def deliver_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="a folder written by `kibble k9s simulate`"),
    as_json: bool = JsonOption,
) -> None:
    """Deliver late partitions: move them from late/ into the landing folder."""
    from kibble.k9s.simulate import deliver_late, load_shop

    load_shop(out)
    moved = deliver_late(out)
    if as_json:
        print_json({"delivered": moved})
    else:
        console.print(f"delivered {len(moved)} partition(s): {', '.join(moved) or '-'}")


@app.command("redeliver")
def redeliver_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="a folder written by `kibble k9s simulate`"),
    day: str = typer.Option(..., "--day", help="the date to re-deliver, YYYY-MM-DD"),
    as_json: bool = JsonOption,
) -> None:
    """Re-deliver one day complete and correct (the upstream fix for a bad partition)."""
    from datetime import date

    from kibble.k9s.simulate import load_shop, write_day

    shop = load_shop(out)
    index = (date.fromisoformat(day) - shop.config.start).days
    result = write_day(shop, out, index, clean=True)
    if as_json:
        print_json(result.to_dict())
    else:
        console.print(f"re-delivered {result.date}: {result.events} events -> {result.path}")


@app.command("trends")
def trends_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="a folder written by `kibble k9s simulate`"),
    serve: bool = typer.Option(False, "--serve", help="then serve the feed over HTTP"),
    port: int = typer.Option(8765, "--port", help="port for --serve (127.0.0.1)"),
    as_json: bool = JsonOption,
) -> None:
    """Publish the external trends feed for every simulated day: mentions per category and
    product (seasonal, bursty) in OUT/trends/date=YYYY-MM-DD/trends.csv, ingestible as the
    built-in `trends` table; --serve also serves it over HTTP until interrupted."""
    from kibble.k9s.simulate import load_shop
    from kibble.k9s.trends import serve_trends, write_all_trends

    paths = write_all_trends(load_shop(out), out)
    if as_json:
        print_json({"files": [str(p) for p in paths]})
    else:
        console.print(f"wrote {len(paths)} day(s) of the trends feed under {out / 'trends'}")
    if serve:
        import time

        with serve_trends(out, port) as base:
            console.print(f"serving {base}/trends/date=YYYY-MM-DD/trends.csv (Ctrl-C stops)")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return


@app.command("config")
def config_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="a folder written by `kibble k9s simulate`"),
) -> None:
    """Print the simulation config stored in OUT (it rebuilds the same shop)."""
    from kibble.k9s.simulate import load_shop

    print_json(json.loads(load_shop(out).config.to_json()))


def demo(
    ctx: typer.Context,
    days: int = typer.Option(
        DEFAULT_DAYS, "--days", help="days kibble runs the shop (after its two weeks of history)"
    ),
    products: int = typer.Option(100_000, "--products", help="catalogue size"),
    users: int = typer.Option(20_000, "--users", help="number of customers"),
    scenario: list[str] = ScenarioOption,
    seed: int = typer.Option(42, "--seed", help="same seed, same run"),
    until: str = typer.Option(
        "",
        "--until",
        help="last simulated day, YYYY-MM-DD (default yesterday); pin it with --seed to "
        "replay a run exactly, seasons included",
    ),
    quick: bool = typer.Option(
        False, "--quick", help="small shop, 8 days (a few minutes): what the test suite runs"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run the K9s shop's daily life on a simulated clock, with kibble doing the work.

    The demo applies the K9s factory and lands the shop's two weeks of past events (the
    monitors' baseline), then each day: the shop's files land -> at 07:00 the scheduler
    runs the factory's daily pipeline (data gates, train, registry gates, rollout) and
    its monitor -> simulated customers ask the real serving app for recommendations and
    send their clicks -> the rollout controller promotes or rolls back from that traffic.
    Default faults: a late partition (the run holds, then resumes), a cats launch (the
    team changes the factory: `plan`, `apply`) and a two-day latency incident (a fault
    slows serving; the feedback-loop check alerts). Uses --home (default ./.kibble).

    Each size runs in a home of its own (.kibble/demo, .kibble/demo-quick, ...) unless
    --home or KIBBLE_HOME names one. The same run again reuses the finished one there;
    other days or an unfinished run start that home afresh; it says which.
    """
    from kibble.k9s.demo import HISTORY_DAYS, day_line, default_scenarios, run_demo

    if quick:
        days, products, users = 8, 2_000, 3_000
    scenarios = parse_scenarios(scenario, days) if scenario else default_scenarios(days)
    history = HISTORY_DAYS  # the shop's own past, landed and monitored before day one
    from datetime import UTC, date, datetime, timedelta

    try:
        last = date.fromisoformat(until) if until else datetime.now(UTC).date() - timedelta(1)
    except ValueError as exc:
        raise UsageError(f"bad --until {until!r}", hint="write a date as YYYY-MM-DD") from exc
    config = SimConfig(
        products=products,
        users=users,
        days=history + days,
        seed=seed,
        start=last - timedelta(days=history + days - 1),  # the shop's last DAYS days
        sessions_per_user=0.3,
        scenarios={name: history + day for name, day in scenarios.items()},
    )
    cli = state(ctx)
    size = _size_name(quick, days, products, users)
    home = _demo_home(cli, size)
    previous = _previous_run(home, size)
    if previous.get("config") == json.loads(config.to_json()) and "summary" in previous:
        summary = {**previous["summary"], "reused": f"the finished run of {previous['ran_at']}"}
        if not as_json:
            console.print(
                f"reused the finished {size} run in {home} (same days, shop and seed, ran "
                f"{previous['ran_at']}): nothing to redo; delete that folder to run it again"
            )
        _show(summary, as_json)
        return
    if previous:
        shutil.rmtree(home)
        if not as_json:
            console.print(f"starting fresh in {home}: {_why_fresh(previous, config)}")
    home.mkdir(parents=True, exist_ok=True)
    marker = {"size": size, "config": json.loads(config.to_json()), "ran_at": _now()}
    (home / MARKER).write_text(json.dumps(marker))
    context = cli.context()
    with _day_progress(days, quiet=as_json) as progress:
        task = progress.add_task("starting", total=days, day=f"1/{days}")

        def on_day(entry: dict[str, object]) -> None:
            progress.advance(task)
            done = int(progress.tasks[0].completed)
            progress.update(task, day=f"{min(done + 1, days)}/{days}")
            if not as_json:
                console.print(day_line(entry), highlight=False)

        def on_step(what: str) -> None:
            progress.update(task, description=what)

        summary = run_demo(
            home, config, context=context, history=history, on_day=on_day, on_step=on_step
        )
    (home / MARKER).write_text(json.dumps({**marker, "summary": summary}, default=str))
    _show(summary, as_json)


def _day_progress(days: int, *, quiet: bool) -> Progress:
    """Day n of N, what the day is doing, a bar and the time left (estimated from the days
    done); only on a terminal, never with --json."""
    from rich.progress import (
        BarColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeRemainingColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("day {task.fields[day]}"),
        TextColumn("{task.description:<28}"),
        BarColumn(),
        TextColumn("about"),
        TimeRemainingColumn(),
        TextColumn("left"),
        console=console,
        transient=True,
        disable=quiet or not console.is_terminal,
    )


MARKER = "demo.json"
"""What a demo home holds besides the platform's files: its size, config and summary."""


def _size_name(quick: bool, days: int, products: int, users: int) -> str:
    if quick:
        return "demo-quick"
    if (days, products, users) == (DEFAULT_DAYS, 100_000, 20_000):
        return "demo"
    return f"demo-{days}d-{products}p-{users}u"


def _demo_home(cli: CliState, size: str) -> Path:
    """A home of its own per demo size (``.kibble/demo``, ``.kibble/demo-quick``) unless
    one was chosen by flag, environment or kibble.toml; then that one is used as is."""
    settings = cli.settings()
    if settings.sources.get("home", "default") != "default":
        return settings.home
    cli.overrides["home"] = settings.home / size
    cli._settings = cli._context = None  # re-resolve every location under the new home
    return cli.settings().home


def _previous_run(home: Path, size: str) -> dict[str, Any]:
    """The earlier demo run in ``home`` ({} when none). A home holding another size's
    run is refused: one size never overwrites another's data."""
    try:
        previous: dict[str, Any] = json.loads((home / MARKER).read_text())
    except FileNotFoundError:
        if (home / "k9s").exists():
            raise UsageError(
                f"{home} holds a K9s shop that no demo run here recorded",
                hint="run the demo in a home of its own: without --home or KIBBLE_HOME each "
                "size gets one under .kibble",
            ) from None
        return {}
    except (OSError, ValueError):
        return {"size": size}  # an unreadable marker: the run there did not finish
    if previous.get("size") != size:
        raise UsageError(
            f"{home} holds the {previous.get('size')} run, not {size}",
            hint="run the demo without --home or KIBBLE_HOME (each size gets a home under "
            ".kibble), or pass another --home",
        )
    return previous


def _why_fresh(previous: dict[str, Any], config: SimConfig) -> str:
    """One line saying what is replaced (nothing from it is reused)."""
    if "summary" not in previous:
        return "the run there did not finish; nothing reused"
    before = previous.get("config", {})
    was = f"{before.get('start')} + {before.get('days')} days, seed {before.get('seed')}"
    now = f"{config.start.isoformat()} + {config.days} days, seed {config.seed}"
    return f"the run of {previous.get('ran_at')} covered {was}, this one {now}; nothing reused"


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _show(summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(summary)
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    history = summary.get("history") or {}
    if history.get("days"):
        console.print(
            f"before day one: the shop's {history['days']} days of events "
            f"({history['first']}..{history['last']}, {history['events']:,} rows) landed "
            f"through the factory's events source; the monitors were backfilled over them",
            highlight=False,
        )
    print_table(
        "Versions",
        ["version", "model", "factory", "gate", "failed checks", "status"],
        [
            [v["version"], v["model"], v["factory_version"], v["gate"] or "-",
             ", ".join(v["failed_checks"]), v["status"]]
            for v in summary["versions"]
        ],
    )  # fmt: skip
    print_table(
        "Rollouts (decided by the rollout controller)",
        ["challenger", "against", "decision", "champion ctr", "challenger ctr", "95% interval",
         "reason"],
        [
            [r["challenger"], r["champion"], r["decision"], r["champion_ctr"],
             r["challenger_ctr"], r["ci95"], r["reason"]]
            for r in summary["ab_results"]
        ],
    )  # fmt: skip
    print_table(
        "Factory versions",
        ["version", "applied", "note", "changes"],
        [
            [f["version"], f["applied_at"], f["note"], "; ".join(f["changes"][:6])]
            for f in summary["factory_versions"]
        ],
    )
    cats = summary["cats"]
    console.print(
        f"cat owners' CTR: {cats['ctr_before']} before the factory change "
        f"({cats['visits_before']} visits), {cats['ctr_after']} after ({cats['visits_after']})",
        highlight=False,
    )
    print_table(
        "Alerts",
        ["date", "kind", "status", "message"],
        [[a["date"], a["kind"], a["status"], a["message"]] for a in summary["alerts"]],
    )
    home = _shown(Path(str(summary["home"])))
    model = summary["model"]
    console.print(
        f"done in {summary['wall_seconds']} s; everything is in {home}. Next, "
        f"`export KIBBLE_HOME={home}` so the commands below read it, then: "
        f"`kibble models show {model}`, `kibble runs list`, `kibble factory history`, "
        f"`kibble rollout status --deployment {summary['deployment']}`, "
        "`kibble alerts list --all`, "
        f"`kibble monitor`, `kibble lineage model:{model}`, `kibble requests list` (then "
        "`kibble lineage request:ID`: why a customer saw what they saw), the dashboard "
        "(`kibble api`, open the /ui address it prints), "
        f"`kibble k9s config --out {_shown(Path(str(summary['shop'])))}`",
        highlight=False,
    )


FACTORY_FILE = '''"""The K9s factory for the simulated shop in {shop}.

Keep it in git; edit the candidates, gates and rollout policy, then
`kibble validate`, `kibble plan`, `kibble apply`. `kibble scheduler` runs the daily
pipeline it schedules; `kibble factory rollback N` brings an earlier version back.
"""

from pathlib import Path

from kibble.k9s.factory import k9s_factory

factory = k9s_factory({project!r}, Path({shop!r}))
'''


@app.command("init")
def init_cmd(
    ctx: typer.Context,
    shop: Path = typer.Option(..., "--shop", help="the simulator's folder (`kibble k9s simulate`)"),
    folder: Path = typer.Argument(Path("."), help="where to write factory.py"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing factory.py"),
) -> None:
    """Write a factory.py for a simulated shop: its sources, the daily pipeline of kibble's
    platform steps, the recommender's gates and the k9s deployment's rollout policy."""
    from kibble.cli.state import state

    if not (shop / "k9s.json").is_file():
        raise UsageError(
            f"{shop} is not a simulated shop", hint="create one with `kibble k9s simulate --out`"
        )
    target = folder / "factory.py"
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="use --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    project = state(ctx).settings().project
    target.write_text(FACTORY_FILE.format(shop=str(shop.resolve()), project=project))
    console.print(f"wrote {target}")
    console.print("next: `kibble plan`, then `kibble apply`", highlight=False)


def _shown(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (easier to type)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
