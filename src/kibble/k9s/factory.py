"""The K9s factory: what the shop declares and `kibble apply` ships.

Sources say where each table's data lands; the daily pipeline (kibble's platform steps)
trains the candidates named here; the gate policy judges them; the rollout policy says
how a passer reaches customers. ``kibble k9s init --shop DIR`` writes a ``factory.py``
that calls ``k9s_factory`` for a simulated shop, for a team to edit and keep in git.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kibble import (
    ColumnSpec,
    Factory,
    GatePolicy,
    PipelineSpec,
    RolloutPolicy,
    SourceSpec,
    TableSpec,
)
from kibble.k9s.daily import REF, REF_GATES
from kibble.k9s.simulate import database_url, partition_dir

DAILY = "k9s_daily"
MODEL = "k9s-recs"
DEPLOYMENT = "k9s"
CANDIDATES: dict[str, dict[str, Any]] = {
    "als": {"factors": 32, "iterations": 8},
    "item_knn": {},
}


DOG_SPECIES = ["dog", "puppy", "senior"]


def products_table(species: list[str]) -> TableSpec:
    """The catalogue's contract: one row per product, for the ``species`` the shop sells.
    A product for any other species is quarantined on load and holds the daily run."""
    return TableSpec(
        columns=[
            ColumnSpec(name="item_id", type="int64", nullable=False, min=0),
            ColumnSpec(name="title", type="string", nullable=False),
            ColumnSpec(name="description", type="string"),
            ColumnSpec(name="category", type="string", nullable=False),
            ColumnSpec(name="species", type="string", nullable=False, allowed=species),
            ColumnSpec(name="price", type="float64", nullable=False, min=0, max=100_000),
            ColumnSpec(name="season_start", type="string"),
            ColumnSpec(name="season_end", type="string"),
            ColumnSpec(name="in_stock", type="bool", nullable=False),
        ],
        key=["item_id"],
    )


def k9s_factory(project: str, shop: Path, *, schedule: str | None = "0 7 * * *") -> Factory:
    """The definition for ``project``, its sources reading the simulated shop in ``shop``.

    The daily run starts at 07:00 UTC, past the events deadline of the day before."""
    shop = shop.resolve()
    day_folder = str(partition_dir(shop, "{partition}"))
    params = {"model": MODEL, "deployment": DEPLOYMENT, "candidates": CANDIDATES}
    return Factory(
        project=project,
        description="K9s: the daily data gates, the recommender's candidates, gates and rollout",
        sources={
            "events": SourceSpec(kind="files", table="events", location=day_folder),
            "products": SourceSpec(kind="sql", table="products", location=database_url(shop)),
            "users": SourceSpec(kind="sql", table="users", location=database_url(shop)),
        },
        pipelines={
            DAILY: PipelineSpec(entrypoint=REF, schedule=schedule, params=params),
            "k9s_gates": PipelineSpec(entrypoint=REF_GATES),
            # the live deployment, watched every morning before the retraining run
            "k9s_monitor": PipelineSpec(
                entrypoint="kibble.steps.monitor:monitoring",
                schedule="30 6 * * *" if schedule else None,
                params={"deployment": DEPLOYMENT, "since": "1d"},
            ),
        },
        models={
            # Offline: beat popularity on next-day NDCG with 95% confidence, trail the
            # champion by at most 1%, cover half the items the champion shows, pass the probe.
            MODEL: GatePolicy(primary_metric="ndcg@10", champion_tolerance=0.01, confidence=0.95),
        },
        deployments={
            DEPLOYMENT: RolloutPolicy(model=MODEL, strategy="canary", steps=[10.0, 50.0, 100.0]),
        },
    )


def with_cats(factory: Factory) -> Factory:
    """The change the team commits after the cats launch, as an edit of the definition.

    The catalogue's contract accepts cat products. Cat owners arrive with no history and
    cat products with no interactions, so collaborative filtering alone cannot reach
    them: a ``hybrid`` candidate also scores items by their catalogue text, category and
    species (the products table is every candidate's item side now). The gate judges new
    customers (the ``cold`` slice) on their own, so a model that fails newcomers cannot
    pass on its headline number."""
    daily = factory.pipelines[DAILY]
    candidates = {**daily.params["candidates"], "hybrid": {"cf": "als"}}
    params = {**daily.params, "candidates": candidates, "items_table": "products"}
    gates = factory.models[MODEL]
    slices = {**gates.slice_tolerance, "cold": 0.02}
    return factory.model_copy(
        update={
            "tables": {**factory.tables, "products": products_table([*DOG_SPECIES, "cat"])},
            "pipelines": {**factory.pipelines, DAILY: daily.model_copy(update={"params": params})},
            "models": {
                **factory.models,
                MODEL: gates.model_copy(update={"slice_tolerance": slices}),
            },
        }
    )
