"""`kibble recsys`: evaluate, tune and train recommenders on any interactions file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from kibble.cli.output import JsonOption, err_console, print_json, print_table, working
from kibble.cli.state import state
from kibble.errors import UsageError

if TYPE_CHECKING:  # the heavy numeric stack loads only when a recsys command runs
    from kibble.recsys.catalog import ItemCatalog
    from kibble.recsys.evaluation import EvaluationReport
    from kibble.recsys.interactions import Interactions

DEFAULT_MODELS = ("popularity", "als", "item_knn", "sequence", "rp3beta", "content", "hybrid")

app = typer.Typer(
    help=(
        "Recommenders: evaluate a model suite on your own interactions file, tune one "
        "with optuna, train one into a safe .npz artifact.\n\n"
        "Example: kibble recsys evaluate --interactions ratings.tsv --weight-col rating"
    ),
    no_args_is_help=True,
)

InteractionsOpt = typer.Option(
    ...,
    "--interactions",
    "-i",
    help="events file or folder (partition folders too): CSV, TSV or Parquet, one row per event",
)
ItemsOpt = typer.Option(
    None,
    "--items",
    help="item file (text, category, species, stock, seasons as MM-DD): a shop's products",
)
TrendsOpt = typer.Option(
    None,
    "--trends",
    help="trends feed (date, kind product|category, key, mentions): the hybrid blends it in",
)
UserFileOpt = typer.Option(None, "--user-file", help="user file with attribute columns to slice by")
UserColOpt = typer.Option("user_id", "--user-col", help="user id column")
ItemColOpt = typer.Option("item_id", "--item-col", help="item id column")
TimeColOpt = typer.Option(
    None, "--time-col", help="event time column (epoch s or ISO); default timestamp, else ts"
)
TIME_COLS = ("timestamp", "ts")
WeightColOpt = typer.Option(None, "--weight-col", help="numeric weight column, e.g. rating")
EventColOpt = typer.Option(
    None, "--event-col", help="event type column; weights view 1, click 2, cart 4, purchase 8"
)
ColumnsOpt = typer.Option(
    None, "--columns", help="names for a headerless file, comma-separated in file order"
)
TextColsOpt = typer.Option(
    None,
    "--text-cols",
    help="item columns used as content text (default title,description,category)",
)
KOpt = typer.Option(10, "--k", min=1, help="list length K for the metrics")
TestFractionOpt = typer.Option(
    0.2, "--test-fraction", min=0.01, max=0.99, help="share of the latest events held out"
)
ExecutorOpt = typer.Option(
    None, "--executor", help="local, process or ray (default: the pipelines.executor setting)"
)
RayAddressOpt = typer.Option(
    None, "--ray-address", help="Ray cluster HOST:PORT (default: pipelines.ray_address)"
)
CpusOpt = typer.Option(
    1.0, "--cpus", min=0.1, help="CPUs each Ray task asks for; Ray gives its fit that many threads"
)


@dataclass
class Inputs:
    interactions: Interactions
    items: ItemCatalog | None
    users: Any
    source: dict[str, Any]


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _load(
    interactions: Path,
    items: Path | None,
    users: Path | None,
    user_col: str,
    item_col: str,
    time_col: str | None,
    weight_col: str | None,
    event_col: str | None,
    columns: str | None,
    text_cols: str | None,
    trends: Path | None = None,
) -> Inputs:
    from kibble.recsys.catalog import ItemCatalog
    from kibble.recsys.interactions import Interactions
    from kibble.recsys.io import read_table

    if weight_col and event_col:
        raise UsageError("give --weight-col or --event-col, not both", hint="pick one")
    required = [user_col, item_col] + [c for c in (time_col, weight_col, event_col) if c]
    frame = read_table(interactions, columns=_split(columns) or None, required=required)
    if time_col is None:  # the usual name, or the K9s simulator's
        time_col = next((c for c in TIME_COLS if c in frame.columns), TIME_COLS[0])
        if time_col not in frame.columns:
            raise UsageError(
                f"{interactions} has no time column ({' or '.join(TIME_COLS)})",
                hint="name it with --time-col",
            )
    matrix = Interactions.from_events(
        frame,
        user_col=user_col,
        item_col=item_col,
        time_col=time_col,
        event_col=event_col,
        weight_col=weight_col,
    )
    catalog = None
    if items is not None:
        item_frame = read_table(items, required=[item_col])
        catalog = ItemCatalog.from_table(
            item_frame, item_col=item_col, text_cols=_split(text_cols) or None
        )
    if trends is not None:
        from kibble.recsys.trends import FEED_COLUMNS, TrendFeed

        catalog = catalog or ItemCatalog(item_ids=matrix.item_ids)
        catalog.trends = TrendFeed.from_table(read_table(trends, required=FEED_COLUMNS))
    user_frame = read_table(users, required=[user_col]) if users is not None else None
    source = {
        "interactions": str(interactions),
        "items": str(items) if items else None,
        "users": str(users) if users else None,
        "trends": str(trends) if trends else None,
        "rows": frame.height,
        "columns": {"user": user_col, "item": item_col, "time": time_col},
        "weight_col": weight_col,
        "event_col": event_col,
    }
    return Inputs(matrix, catalog, user_frame, source)


def _models(value: str) -> list[str]:
    from kibble.recsys.base import model_names

    names = _split(value)
    known = set(model_names())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError(
            f"unknown model {unknown[0] if unknown else value!r}",
            hint=f"choose from: {', '.join(sorted(known))}",
        )
    return names


def _print_report(report: EvaluationReport, run_id: str) -> None:
    k = report.k
    ndcg = f"ndcg@{k}"
    keys = [f"recall@{k}", f"hit_rate@{k}", "coverage", "popularity_bias"]
    other = "cold" if report.population == "warm" else "warm"
    short = {"baseline": "baseline", "beats the baseline": "beats"}
    verdicts = report.verdicts()
    rows = []
    for r in report.models:
        name = f"{r.model}*" if r.model == report.baseline else r.model
        low, high = r.intervals.get(ndcg, [float("nan")] * 2)
        lift = r.vs_baseline.get(ndcg)
        beside = r.slices.get("users", {}).get(other, {}).get("ndcg")
        rows.append(
            [
                name,
                f"{r.metrics[ndcg]:.3f} [{low:.3f}, {high:.3f}]",
                f"{lift['difference']:+.3f} [{lift['low']:+.3f}, {lift['high']:+.3f}]"
                if lift
                else "",
                *(f"{r.metrics[key]:.3f}" for key in keys),
                "" if beside is None or report.population == "all" else f"{beside:.3f}",
                short.get(verdicts[r.model], "WORSE"),
            ]
        )
    title = (
        f"{report.population} users ({report.n_users}) @{k}, cut {report.cut[:19]}; "
        "[95% bootstrap interval]; * baseline; WORSE: its lift interval is not above 0, "
        "a gate will refuse it"
    )
    headers = ["ndcg", "vs baseline", "recall", "hit", "cover", "bias", f"{other} ndcg"]
    print_table(title, ["model", *headers, "verdict"], rows)
    for key, value in report.protocol.items():
        err_console.print(f"{key}: {value}")
    best = report.best()
    gaps = ", ".join(f"{family} {gap:.4f}" for family, gap in best.gaps.items())
    err_console.print(f"best: {best.model}; NDCG gap best-worst slice: {gaps}")
    err_console.print(f"recorded as run {run_id}")


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    interactions: Path = InteractionsOpt,
    items: Path | None = ItemsOpt,
    trends: Path | None = TrendsOpt,
    user_file: Path | None = UserFileOpt,
    user_col: str = UserColOpt,
    item_col: str = ItemColOpt,
    time_col: str | None = TimeColOpt,
    weight_col: str | None = WeightColOpt,
    event_col: str | None = EventColOpt,
    columns: str | None = ColumnsOpt,
    text_cols: str | None = TextColsOpt,
    slice_cols: str | None = typer.Option(
        None, "--slice-cols", help="user attribute columns (from --user-file) to slice metrics by"
    ),
    population: str = typer.Option(
        "warm",
        "--users",
        help="who the headline counts: warm (history before the cut), cold or all",
    ),
    test_fraction: float = TestFractionOpt,
    cut: datetime | None = typer.Option(None, "--cut", help="split at this time instead"),
    k: int = KOpt,
    models: str = typer.Option(
        ",".join(DEFAULT_MODELS), "--models", help="comma-separated models to compare"
    ),
    tune: bool = typer.Option(
        True, "--tune/--no-tune", help="pick cheap hyperparameters on a validation split first"
    ),
    per_user: bool = typer.Option(False, "--per-user", help="include per-user metrics in JSON"),
    as_json: bool = JsonOption,
) -> None:
    """Compare models under a global temporal split (train before the cut, test after).

    The headline counts warm users (history before the cut; --users cold or all to
    change), with cold users beside. Every metric has a bootstrap 95% interval, and every
    model the interval of its difference from the popularity baseline (always included):
    it beats the baseline only when that interval is above 0. The protocol is printed
    and recorded with the run, as are per-user metrics labelled warm / cold.

    Example (MovieLens' tab-separated u.data has no header; columns are guessed as
    user_id item_id rating timestamp): kibble recsys evaluate -i u.data --weight-col rating
    """
    from kibble.recsys.evaluation import evaluate

    context = state(ctx).context()
    started = datetime.now(UTC)
    chosen = _models(models)
    inputs = _load(
        interactions,
        items,
        user_file,
        user_col,
        item_col,
        time_col,
        weight_col,
        event_col,
        columns,
        text_cols,
        trends,
    )
    with working("evaluating", as_json) as say:
        report = evaluate(
            inputs.interactions,
            items=inputs.items,
            users=inputs.users,
            user_col=user_col,
            attribute_cols=_split(slice_cols),
            models=chosen,
            k=k,
            test_fraction=test_fraction,
            cut=cut,
            tune=tune,
            population=population,
            progress=say,
        )
    from kibble.recsys.runs import record_evaluation

    params = {
        **inputs.source,
        "k": k,
        "test_fraction": test_fraction,
        "tune": tune,
        "population": population,
    }
    run_id = record_evaluation(context, report, params=params, started_at=started)
    if as_json:
        print_json({"run_id": run_id, **report.to_dict(per_user=per_user)})
        return
    _print_report(report, run_id)


def _param_values(values: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r} is not key=value", hint="e.g. --param factors=64")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


@app.command("train")
def train_cmd(
    ctx: typer.Context,
    interactions: Path = InteractionsOpt,
    items: Path | None = ItemsOpt,
    trends: Path | None = TrendsOpt,
    user_col: str = UserColOpt,
    item_col: str = ItemColOpt,
    time_col: str | None = TimeColOpt,
    weight_col: str | None = WeightColOpt,
    event_col: str | None = EventColOpt,
    columns: str | None = ColumnsOpt,
    text_cols: str | None = TextColsOpt,
    model: str = typer.Option("als", "--model", "-m", help="which recommender to train"),
    param: list[str] = typer.Option([], "--param", help="hyperparameter key=value (repeat)"),
    executor: str | None = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    cpus: float = CpusOpt,
    as_json: bool = JsonOption,
) -> None:
    """Train one model on all events and store it as a content-addressed .npz artifact.

    With --executor ray the fit runs as a Ray task; the artifact is the same as a local
    fit's. Register the printed digest with `kibble models` to take it towards production.
    """
    from kibble.artifacts.formats import NPZ
    from kibble.recsys.remote import train_on
    from kibble.recsys.runs import record_run

    context = state(ctx).context()
    started = datetime.now(UTC)
    name = _models(model)[0]
    inputs = _load(
        interactions,
        items,
        None,
        user_col,
        item_col,
        time_col,
        weight_col,
        event_col,
        columns,
        text_cols,
        trends,
    )
    with working(f"training {name}", as_json):
        result = train_on(
            context,
            inputs.interactions,
            model=name,
            params=_param_values(param),
            items=inputs.items,
            executor=executor,
            ray_address=ray_address,
            cpus=cpus,
        )
    ref = context.save_artifact(
        result.blob, NPZ, name=f"recsys-{name}", meta={"model": name, "params": result.model.params}
    )
    summary = {**result.summary, "digest": ref.digest}
    run_id = record_run(
        context,
        pipeline="recsys.train",
        kind="training",
        params=result.model.params,
        metrics={k: v for k, v in summary.items() if k != "params"},
        started_at=started,
        tags={"model": name, **{k: v for k, v in inputs.source.items() if v is not None}},
        inputs=[
            {"url": inputs.source[key]}
            for key in ("interactions", "items", "users")
            if inputs.source[key]
        ],
        outputs=[{"digest": ref.digest}],
    )
    context.audit("recsys.train", run_id, digest=ref.digest)
    if as_json:
        print_json({"run_id": run_id, **summary})
        return
    print_table(
        f"trained {name}", ["field", "value"], [[k, v] for k, v in summary.items() if k != "params"]
    )
    err_console.print(f"recorded as run {run_id}")


@app.command("tune")
def tune_cmd(
    ctx: typer.Context,
    interactions: Path = InteractionsOpt,
    items: Path | None = ItemsOpt,
    trends: Path | None = TrendsOpt,
    user_col: str = UserColOpt,
    item_col: str = ItemColOpt,
    time_col: str | None = TimeColOpt,
    weight_col: str | None = WeightColOpt,
    event_col: str | None = EventColOpt,
    columns: str | None = ColumnsOpt,
    text_cols: str | None = TextColsOpt,
    model: str = typer.Option(
        "als", "--model", "-m", help="als, item_knn, sequence, rp3beta, popularity, hybrid"
    ),
    trials: int = typer.Option(20, "--trials", min=1, help="how many optuna trials"),
    jobs: int = typer.Option(
        1, "--jobs", min=1, help="trials proposed and run at once (threads, processes or Ray tasks)"
    ),
    test_fraction: float = TestFractionOpt,
    k: int = KOpt,
    seed: int = typer.Option(0, "--seed", help="sampler seed, for a repeatable search"),
    executor: str | None = ExecutorOpt,
    ray_address: str | None = RayAddressOpt,
    cpus: float = CpusOpt,
    as_json: bool = JsonOption,
) -> None:
    """Search hyperparameters with optuna; every trial is recorded as a run.

    Trials are scored on a validation split carved from the end of the training period;
    the best parameters are then scored once on the held-out test period. The same
    --seed and --jobs find the same parameters on every executor, Ray included.
    """
    from kibble.recsys.tuning_service import tune

    context = state(ctx).context()
    name = _models(model)[0]
    inputs = _load(
        interactions,
        items,
        None,
        user_col,
        item_col,
        time_col,
        weight_col,
        event_col,
        columns,
        text_cols,
        trends,
    )
    with working(f"tuning {name}", as_json) as say:
        result = tune(
            context,
            inputs.interactions,
            model=name,
            items=inputs.items,
            n_trials=trials,
            n_jobs=jobs,
            k=k,
            test_fraction=test_fraction,
            seed=seed,
            progress=say,
            source=inputs.source,
            executor=executor,
            ray_address=ray_address,
            cpus=cpus,
        )
    if as_json:
        print_json(result)
        return
    rows = [
        [t["number"], f"{t['value']:.4f}", json.dumps(t["params"]), t["run_id"]]
        for t in result["trials"]
    ]
    print_table(
        f"tuning {name}: validation {result['metric']}", ["trial", "value", "params", "run"], rows
    )
    err_console.print(
        f"best {json.dumps(result['best_params'])}: validation {result['best_value']:.4f}, "
        f"test {result['test_value']:.4f} (popularity baseline {result['baseline_test']:.4f}); "
        f"study run {result['run_id']}"
    )


@app.command("compare")
def compare_cmd(
    ctx: typer.Context,
    runs: list[str] = typer.Argument(..., help="two or more run ids (or unique prefixes)"),
    all_rows: bool = typer.Option(False, "--all", help="also show rows where every run agrees"),
    as_json: bool = JsonOption,
) -> None:
    """Evaluations, tunings, trials or trainings side by side: parameters and metrics.

    Only what differs is shown (--all for everything); on metrics where more is better
    the best run is marked with *. Example: kibble recsys compare 3f2a9c 81bd07
    """
    from kibble.recsys.runs import compare_runs

    if len(runs) < 2:
        raise UsageError("compare needs at least two runs", hint="kibble recsys compare RUN RUN")
    result = compare_runs(state(ctx).context(), runs, all_rows=all_rows)
    if as_json:
        print_json(result)
        return
    ids = [run["run_id"] for run in result["runs"]]
    table = [["kind", *(run["kind"] for run in result["runs"])]]
    for row in result["rows"]:
        cells = [_cell(v) for v in row["values"]]
        if row["best"] is not None:
            index = ids.index(row["best"])
            cells[index] += " *"
        table.append([row["what"], *cells])
    print_table("runs side by side (* best)", ["", *(i[:12] for i in ids)], table)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else str(value)


@app.command("recommend")
def recommend_cmd(
    ctx: typer.Context,
    digest: str = typer.Argument(..., help="artifact digest printed by `kibble recsys train`"),
    user: str = typer.Argument(..., help="user id (unknown users get the fallback)"),
    k: int = KOpt,
    item: str | None = typer.Option(None, "--item", help="the item on screen (context)"),
    as_json: bool = JsonOption,
) -> None:
    """Show what a stored model recommends to one user, and why."""
    from kibble.recsys.base import RecContext, load_model

    model = load_model(state(ctx).context().load_artifact(digest))
    recs = model.recommend(user, k, context=RecContext(item_id=item))
    rows = [r.to_dict() for r in recs]
    if as_json:
        print_json(rows)
        return
    table = [
        [r["item_id"], f"{r['score']:.4f}", "; ".join(r["reasons"]), r["source"]] for r in rows
    ]
    print_table(f"{model.name} for {user}", ["item", "score", "why", "source"], table)
