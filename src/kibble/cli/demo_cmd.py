"""`kibble k9s ...` (the shop simulator) and `kibble demo` (the closed loop, end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.progress import Progress

from kibble.cli.output import JsonOption, console, print_json, print_table
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
    days: int = typer.Option(14, "--days", help="days of shop life to run"),
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
        False, "--quick", help="small shop, 3 days (about a minute): what the test suite runs"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run the K9s shop's daily life with the factory around its recommender.

    Each day: new events land -> ingested into the lake's tables -> contract checks
    (freshness, completeness, correctness) -> train candidates (als, item_knn), registered
    as model versions -> registry gate against the popularity baseline and the champion ->
    live A/B against the champion with simulated users -> keep a clear winner or roll it
    back -> metrics, drift and feedback-loop monitoring -> alerts.
    Default faults: a late partition (the run holds, then resumes by itself), a cats launch
    (drift) and a latency incident (feedback-loop alert). Uses --home (default ./.kibble).
    """
    from kibble.cli.state import state
    from kibble.k9s.demo import default_scenarios, run_demo

    if quick:
        days, products, users = 3, 5_000, 5_000
    scenarios = parse_scenarios(scenario, days) if scenario else default_scenarios(days)
    from datetime import UTC, date, datetime, timedelta

    try:
        last = date.fromisoformat(until) if until else datetime.now(UTC).date() - timedelta(1)
    except ValueError as exc:
        raise UsageError(f"bad --until {until!r}", hint="write a date as YYYY-MM-DD") from exc
    config = SimConfig(
        products=products,
        users=users,
        days=days,
        seed=seed,
        start=last - timedelta(days=days - 1),  # the shop's last DAYS days
        sessions_per_user=0.3,
        scenarios=scenarios,
    )
    context = state(ctx).context()
    home = context.settings.home
    with Progress(console=console, transient=True, disable=as_json) as progress:
        task = progress.add_task("running the K9s shop", total=days)

        def on_day(entry: dict[str, object]) -> None:
            progress.advance(task)
            if not as_json:
                console.print(f"{entry['date']}: {entry['status']} (champion {entry['champion']})")

        summary = run_demo(home, config, context=context, on_day=on_day)
    if as_json:
        print_json(summary)
        return
    _print_summary(summary)


def _print_summary(summary: dict[str, object]) -> None:
    days = summary["days"]
    assert isinstance(days, list)
    rows = [
        [
            d["date"],
            d["status"] + (f" (on {d['resumed_on']})" if "resumed_on" in d else ""),
            "; ".join(r["message"] for r in d["held_reasons"]),
            d["champion"],
        ]
        for d in days
    ]
    print_table("Days", ["date", "run", "held because", "champion"], rows)
    for key, title in (("promotions", "Promotions"), ("rollbacks", "Rollbacks")):
        items = summary[key]
        assert isinstance(items, list)
        print_table(
            title,
            [
                "date",
                "version",
                "against",
                "champion ctr",
                "challenger ctr",
                "diff",
                "95% interval",
            ],
            [
                [
                    p.get("date"),
                    p.get("challenger", p.get("model")),
                    p.get("champion", "first model (baseline)"),
                    p.get("champion_ctr"),
                    p.get("challenger_ctr"),
                    p.get("ctr_diff"),
                    p.get("ci95"),
                ]
                for p in items
            ],
        )
    drift = summary["drift"]
    assert isinstance(drift, list)
    print_table(
        "Drift (input, against the day before)",
        ["date", "drifted", "top movers (PSI)"],
        [
            [
                d["date"],
                ", ".join(d["drifted"]) or "-",
                ", ".join(f"{f['feature']} {f['psi']:.2f}" for f in d["features"][:3]),
            ]
            for d in drift
        ],
    )
    alerts = summary["alerts"]
    assert isinstance(alerts, list)
    print_table(
        "Alerts",
        ["date", "kind", "status", "message"],
        [[a["date"], a["kind"], a["status"], a["message"]] for a in alerts],
    )
    console.print(
        f"done in {summary['wall_seconds']} s; home {summary['home']}. Next: "
        f"`kibble models show {summary['model']}`, `kibble runs list`, "
        "`kibble alerts list --all`, `kibble monitor`, "
        f"`kibble lineage model:{summary['model']}`, the dashboard (`kibble admin init`, "
        "then `kibble api`, open /ui), "
        "`kibble k9s config --out "
        f"{summary['shop']}`"
    )
