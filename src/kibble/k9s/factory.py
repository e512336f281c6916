"""The K9s demo's factory definition: what `kibble demo` applies before its first day.

The demo then runs from it as a team's factory would: the gate policy the registry applies
to every candidate is the one declared here (stored by `kibble apply`, read back by
``gate_candidate``), and every run records the factory version it ran under.
"""

from __future__ import annotations

from pathlib import Path

from kibble.factory import Factory, GatePolicy, PipelineSpec
from kibble.k9s.daily import REF_GATES

MODEL = "k9s-recs"


def k9s_factory(project: str, shop: Path) -> Factory:
    """The definition for ``project``, its pipeline reading the simulated shop in ``shop``."""
    return Factory(
        project=project,
        description="K9s demo: the daily data gates and the recommender's promotion gates",
        pipelines={
            "k9s_gates": PipelineSpec(entrypoint=REF_GATES, params={"shop": str(shop)}),
        },
        models={
            # Judged on simulated clicks per user (the shop's digital twin): beat popularity
            # with 95% confidence, trail the champion by at most 1%.
            MODEL: GatePolicy(primary_metric="clicks", champion_tolerance=0.01, confidence=0.95),
        },
    )
