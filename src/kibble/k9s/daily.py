"""The K9s daily retraining pipeline: nothing but kibble's platform steps.

    check -> train -> gate -> rollout

``check`` lands the shop's files and database (the factory's sources) and holds the run
on late, incomplete or incorrect events, with an alert; the scheduler re-checks held runs
and resumes them once the data is fixed. ``train`` fits the factory's candidates and
registers each as a version of this run; ``gate`` runs the model's promotion gates (the
safety probe included); ``rollout`` hands the best passer to the rollout controller under
the ``k9s`` deployment's declared policy. The factory (``kibble.k9s.factory``) names the
candidates, the gates and the rollout policy, and schedules it::

    kibble k9s init --shop shop && kibble apply && kibble scheduler
    kibble run kibble.k9s.daily:daily -P day=2026-12-03 -P model=k9s-recs \\
        -P deployment=k9s -P 'candidates={"als": {}}'
"""

from __future__ import annotations

from kibble import Pipeline
from kibble.steps import check, gate, rollout, train

REF = "kibble.k9s.daily:daily"
REF_GATES = "kibble.k9s.daily:gates"

daily = Pipeline(
    "k9s_daily",
    [check, train, gate, rollout],
    description="K9s guarded daily retraining: data gates, candidates, promotion gates, rollout",
)
gates = Pipeline("k9s_gates", [check], description="K9s data gates alone: land and check a day")
