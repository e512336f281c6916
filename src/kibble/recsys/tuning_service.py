"""`kibble recsys tune` as a function: an optuna study whose trials are recorded as runs.

Trials never see the test period: they fit on the training period minus its last part
and score on that last part. The winner is scored once on the test period, beside the
popularity baseline, so the study ends with an honest number. Like ``evaluate``'s
headline, every figure counts warm users (history before the cut).

Trials run ``n_jobs`` at a time on the pipelines' executor (``pipelines.executor`` or
``executor=``): threads here, a process pool, or Ray tasks. The search depends on the
seed and ``n_jobs`` only, so a Ray run finds what a local run finds.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kibble.context import Context
from kibble.recsys.base import create_model
from kibble.recsys.catalog import ItemCatalog
from kibble.recsys.evaluation import BASELINE, warm_ndcg
from kibble.recsys.interactions import Interactions
from kibble.recsys.remote import RemoteCalls, validation_score
from kibble.recsys.runs import record_run
from kibble.recsys.split import temporal_split
from kibble.recsys.tuning import TrialResult, run_study

VALIDATION_FRACTION = 0.15


def tune(
    context: Context,
    interactions: Interactions,
    *,
    model: str,
    items: ItemCatalog | None = None,
    n_trials: int = 20,
    n_jobs: int = 1,
    k: int = 10,
    test_fraction: float = 0.2,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
    source: dict[str, Any] | None = None,
    executor: str | None = None,
    ray_address: str | None = None,
    cpus: float = 1.0,
) -> dict[str, Any]:
    say = progress or (lambda _msg: None)
    started = datetime.now(UTC)
    study = uuid.uuid4().hex[:12]
    split = temporal_split(interactions, test_fraction=test_fraction)
    temporal_split(split.train, test_fraction=VALIDATION_FRACTION)  # fail early if empty
    metric = f"ndcg@{k}"
    run_ids: dict[int, str] = {}

    inputs: dict[str, Any] = {"period": split.train, "items": items}
    calls = RemoteCalls(context, executor, ray_address=ray_address, jobs=n_jobs)
    submitted = itertools.count()  # trials are submitted in their numbers' order

    def score(batch: list[dict[str, Any]]) -> list[tuple[float, float]]:
        fixed = {"model": model, "k": k, "validation_fraction": VALIDATION_FRACTION}
        futures = [
            calls.submit(
                validation_score,
                inputs,
                {**fixed, "params": p},
                cpus=cpus,
                name=f"recsys.tune.{model}.trial-{next(submitted)}",
            )
            for p in batch
        ]
        return [(float(f.result().value), f.result().seconds) for f in futures]

    def on_trial(trial: TrialResult) -> None:
        run_ids[trial.number] = record_run(
            context,
            pipeline=f"recsys.tune.{model}",
            kind="tuning-trial",
            params=trial.params,
            metrics={f"val_{metric}": trial.value, "seconds": round(trial.seconds, 3)},
            started_at=datetime.now(UTC),
            tags={"study": study, "trial": trial.number, "model": model, "executor": calls.name},
        )
        say(f"trial {trial.number + 1}/{n_trials}: {trial.value:.4f}")

    say(f"running trials on the {calls.name} executor, {n_jobs} at a time")
    with calls:
        result = run_study(
            model,
            score,
            n_trials=n_trials,
            seed=seed,
            batch=n_jobs,
            on_trial=on_trial,
            metric=metric,
        )
    say("scoring the best parameters on the test period")
    best = create_model(model, **result.best_params).fit(split.train, items)
    test_value = warm_ndcg(best, split, k)
    baseline_test = warm_ndcg(create_model(BASELINE).fit(split.train, items), split, k)
    summary = {
        "metric": metric,
        "best_params": result.best_params,
        "best_value": result.best_value,
        "test_value": test_value,
        "baseline_test": baseline_test,
        "beats_baseline": test_value > baseline_test,
    }
    run_id = record_run(
        context,
        pipeline=f"recsys.tune.{model}",
        kind="tuning",
        params={
            "model": model,
            "trials": n_trials,
            "jobs": n_jobs,
            "seed": seed,
            "k": k,
            "executor": calls.name,
            **(source or {}),
        },
        metrics=summary,
        started_at=started,
        tags={"study": study, "trial_runs": [run_ids[t.number] for t in result.trials]},
    )
    trials = [
        {"number": t.number, "params": t.params, "value": t.value, "run_id": run_ids[t.number]}
        for t in result.trials
    ]
    return {"run_id": run_id, "study": study, "model": model, **summary, "trials": trials}
