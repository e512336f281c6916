"""Platform steps a pipeline composes: the factory's daily loop, with no code of your own.

    from kibble import Pipeline
    from kibble.steps import check, gate, rollout, train

    daily = Pipeline("daily", [check, train, gate, rollout])

``check`` lands the applied factory's sources for ``day`` and holds the run on bad data;
``train`` fits and registers the ``candidates``; ``gate`` judges each version by the
model's policy (safety probe included); ``rollout`` hands the best passer to the rollout
controller under the deployment's declared policy; ``monitor`` (or the one-step
``monitoring`` pipeline a factory schedules) watches a live deployment: metrics per arm,
drift, feedback loops, the factory's alert rules; ``score`` writes a logged model's
answers for a table as a new table version (batch scoring). ``step_context()`` gives your own
steps the run's store and project.
"""

from kibble.steps.context import run_id, step_context
from kibble.steps.data import check
from kibble.steps.models import gate, rollout, train
from kibble.steps.monitor import monitor, monitoring
from kibble.steps.score import score

__all__ = [
    "check",
    "gate",
    "monitor",
    "monitoring",
    "rollout",
    "run_id",
    "score",
    "step_context",
    "train",
]
