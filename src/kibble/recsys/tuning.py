"""Search spaces: a few cheap candidates per model for ``evaluate``, and optuna spaces for
``kibble recsys tune``. Candidates span regimes (light vs strong regularisation, short vs
long popularity memory) rather than values fitted to one data set."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import optuna

from kibble.errors import UsageError

CHEAP_GRIDS: dict[str, list[dict[str, Any]]] = {
    "popularity": [
        {"half_life_days": 3.0},
        {"half_life_days": 14.0},
        {"half_life_days": 60.0},
        {"half_life_days": 0.0},
    ],
    "als": [
        {"factors": 64, "regularization": 0.05, "alpha": 2.0, "weighting": "log"},
        {"factors": 32, "regularization": 1.0, "alpha": 10.0, "weighting": "log"},
        {"factors": 128, "regularization": 0.1, "alpha": 1.0, "weighting": "bm25"},
        {"factors": 64, "regularization": 0.05, "alpha": 2.0, "half_life_days": 30.0},
    ],
    "item_knn": [
        {"similarity": "bm25", "neighbours": 100},
        {"similarity": "cosine", "neighbours": 50},
        {"similarity": "bm25", "neighbours": 100, "half_life_days": 30.0},
        {"similarity": "bm25", "neighbours": 100, "half_life_days": 7.0},
    ],
    "sequence": [
        {"half_life_days": 7.0, "window": 3},
        {"half_life_days": 1.0, "window": 2},
        {"half_life_days": 30.0, "window": 5},
    ],
    "rp3beta": [
        {"alpha": 1.0, "beta": 0.5},
        {"alpha": 0.8, "beta": 0.3},
        {"alpha": 1.0, "beta": 0.5, "half_life_days": 30.0},
    ],
    "ease": [{"l2": 50.0}, {"l2": 200.0}, {"l2": 1000.0}],
    "content": [{}],
}
CF_MODELS = ("als", "item_knn", "rp3beta", "ease")


def hybrid_grid(
    cf: str, cf_params: Mapping[str, Any], sequence_params: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The blend around the best CF model's and the sequence model's chosen parameters;
    its weights are learned inside each fit, so one candidate is enough."""
    return [
        {"cf": cf, "cf_params": dict(cf_params), "sequence_params": dict(sequence_params or {})}
    ]


def suggest(trial: optuna.Trial, model: str) -> dict[str, Any]:
    """Hyperparameters for one optuna trial of ``model``."""
    if model == "als":
        return {
            "factors": trial.suggest_categorical("factors", [16, 32, 64, 128]),
            "regularization": trial.suggest_float("regularization", 1e-3, 10.0, log=True),
            "alpha": trial.suggest_float("alpha", 0.5, 50.0, log=True),
            "iterations": trial.suggest_int("iterations", 5, 25),
            "weighting": trial.suggest_categorical("weighting", ["log", "linear", "bm25"]),
        }
    if model == "item_knn":
        return {
            "similarity": trial.suggest_categorical("similarity", ["cosine", "bm25"]),
            "neighbours": trial.suggest_int("neighbours", 5, 500, log=True),
        }
    if model == "popularity":
        return {"half_life_days": trial.suggest_float("half_life_days", 0.5, 365.0, log=True)}
    if model == "sequence":
        return {
            "window": trial.suggest_int("window", 1, 8),
            "recent_items": trial.suggest_int("recent_items", 1, 30),
            "half_life_days": trial.suggest_float("half_life_days", 0.25, 60.0, log=True),
        }
    if model == "rp3beta":
        return {
            "alpha": trial.suggest_float("alpha", 0.3, 1.5),
            "beta": trial.suggest_float("beta", 0.0, 1.0),
            "neighbours": trial.suggest_int("neighbours", 10, 500, log=True),
            "half_life_days": trial.suggest_categorical("half_life_days", [0.0, 7.0, 30.0, 90.0]),
        }
    if model == "hybrid":
        return _suggest_blend(trial)
    raise UsageError(
        f"there is no search space for {model!r}",
        hint="tune one of: als, item_knn, sequence, rp3beta, popularity, hybrid",
    )


def _suggest_blend(trial: optuna.Trial) -> dict[str, Any]:
    """The blend's members and its own knobs; the weights are learned inside each fit."""
    cf = trial.suggest_categorical("cf", ["als", "item_knn", "rp3beta"])
    if cf == "als":
        cf_params: dict[str, Any] = {
            "factors": trial.suggest_categorical("als.factors", [16, 32, 64, 128]),
            "regularization": trial.suggest_float("als.regularization", 1e-3, 10.0, log=True),
            "alpha": trial.suggest_float("als.alpha", 0.5, 50.0, log=True),
        }
    elif cf == "item_knn":
        cf_params = {"neighbours": trial.suggest_int("item_knn.neighbours", 5, 500, log=True)}
    else:
        cf_params = {"beta": trial.suggest_float("rp3beta.beta", 0.0, 1.0)}
    cf_params["half_life_days"] = trial.suggest_categorical(
        "cf.half_life_days", [0.0, 7.0, 30.0, 90.0]
    )
    return {
        "cf": cf,
        "cf_params": cf_params,
        "sequence_params": {
            "window": trial.suggest_int("sequence.window", 1, 6),
            "half_life_days": trial.suggest_float("sequence.half_life_days", 0.5, 30.0, log=True),
        },
        "popularity_half_life_days": trial.suggest_float(
            "popularity_half_life_days", 0.5, 90.0, log=True
        ),
        "item_shrink": trial.suggest_float("item_shrink", 0.5, 50.0, log=True),
        "season_boost": trial.suggest_float("season_boost", 0.0, 2.0),
    }


@dataclass
class TrialResult:
    number: int
    params: dict[str, Any]
    value: float
    seconds: float
    run_id: str | None = None


@dataclass
class StudyResult:
    model: str
    metric: str
    best_params: dict[str, Any]
    best_value: float
    trials: list[TrialResult] = field(default_factory=list)


def run_study(
    model: str,
    score: Callable[[list[dict[str, Any]]], list[tuple[float, float]]],
    *,
    n_trials: int,
    seed: int = 0,
    batch: int = 1,
    on_trial: Callable[[TrialResult], None] | None = None,
    metric: str = "ndcg@10",
) -> StudyResult:
    """Maximise with optuna's TPE sampler, ``batch`` trials proposed at a time.

    ``score`` takes a batch of parameter sets and returns ``(value, seconds)`` for each,
    in order; it may run them in parallel anywhere. Proposals depend only on ``seed``,
    ``batch`` and earlier values, so the same search on threads or on a Ray cluster
    proposes the same trials and ends with the same best parameters.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    results: list[TrialResult] = []
    while len(results) < n_trials:
        trials = [study.ask() for _ in range(min(max(1, batch), n_trials - len(results)))]
        proposed = [suggest(trial, model) for trial in trials]
        scored = score(proposed)
        for trial, params, (value, seconds) in zip(trials, proposed, scored, strict=True):
            study.tell(trial, float(value))
            result = TrialResult(trial.number, params, float(value), seconds)
            if on_trial is not None:
                on_trial(result)
            results.append(result)
    best = max(results, key=lambda r: r.value)
    return StudyResult(model, metric, best.params, best.value, results)
