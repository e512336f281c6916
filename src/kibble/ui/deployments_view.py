"""The Deployments page: how traffic splits now, how each rollout went step by step,
what every A/B measured, and each arm's share of served traffic over time.

The split shown is computed the way the routers compute it (``rollouts.service.traffic``),
so a promotion made anywhere shows here at once; the stored record is only the fallback
when the model is gone.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from kibble.errors import NotFoundError
from kibble.rollouts.service import traffic
from kibble.store.models import Deployment, Rollout, RolloutDecision, ServedRequest
from kibble.store.repositories.serving import Rollouts
from kibble.ui.pages import PAGE_SIZE, metric_chart, short
from kibble.ui.views import Page, cards, chart, link, status, table, when

TRAFFIC_WINDOW = timedelta(days=90)


def _percent(share: Any) -> str | None:
    return f"{100 * share:.1f}%" if isinstance(share, int | float) else None


def _arms_text(policy: dict[str, Any]) -> str:
    arms = policy.get("arms")
    if not isinstance(arms, dict) or not arms:
        return ""
    return ", ".join(f"{arm} {_percent(share)}" for arm, share in arms.items())


def _live(session: Session, project_id: str, row: Deployment) -> dict[str, Any]:
    try:
        return traffic(session, project_id, row.name, row.model_name)
    except NotFoundError:  # the model (or all its versions) is gone: what was stored
        return row.policy


def deployments(session: Session, project_id: str, prefix: str, q: dict[str, str]) -> Page:
    rows = session.scalars(
        sa.select(Deployment).where(Deployment.project_id == project_id).order_by(Deployment.name)
    ).all()
    page = Page("Deployments", subtitle="Arms, traffic shares and rollout decisions.")
    page.add(
        table(
            "deployments",
            "Deployments",
            ["deployment", "model", "status", "policy", "traffic", "updated"],
            [
                [
                    link(d.name, f"{prefix}/deployments?name={quote(d.name)}", f"open-{d.name}"),
                    link(d.model_name, f"{prefix}/models/{quote(d.model_name)}"),
                    status(d.status),
                    d.policy.get("policy"),
                    _arms_text(d.policy),
                    when(d.updated_at),
                ]
                for d in rows
            ],
            empty="no deployments: `kibble serve` or `kibble rollout start` records one",
        )
    )
    chosen = next((d for d in rows if d.name == q.get("name", "")), None)
    if chosen is not None:
        _detail(page, session, project_id, prefix, chosen, q.get("rollout", ""))
    return page


def _detail(
    page: Page,
    session: Session,
    project_id: str,
    prefix: str,
    chosen: Deployment,
    rollout_id: str,
) -> None:
    page.subtitle = f"Deployment {chosen.name} of model {chosen.model_name}"
    live = _live(session, project_id, chosen)
    arms: dict[str, float] = live.get("arms") or {}
    rollouts = session.scalars(
        sa.select(Rollout)
        .where(Rollout.project_id == project_id, Rollout.deployment == chosen.name)
        .order_by(Rollout.created_at.desc())
        .limit(PAGE_SIZE)
    ).all()
    page.add(
        cards(
            "deployment-cards",
            [
                ("policy", "Routing policy", live.get("policy")),
                ("champion", "Champion", live.get("champion")),
                ("challenger", "Challenger", live.get("challenger") or "none"),
                ("holdout", "Baseline holdout", _percent(live.get("holdout_share"))),
                ("rollouts", "Rollouts", len(rollouts)),
            ],
        )
    )
    page.add(
        table(
            "arms",
            f"Arms of {chosen.name} now",
            ["arm", "role", "traffic share", "lineage"],
            [
                [
                    arm,
                    _role(live, arm),
                    _percent(share),
                    _lineage_link(prefix, arm, f"arm-lineage-{i}"),
                ]
                for i, (arm, share) in enumerate(arms.items())
            ],
            empty="the policy names no arms",
        )
    )
    page.add(
        chart(
            "arm-shares",
            "Traffic share per arm",
            [{"name": "share", "x": list(arms), "y": list(arms.values())}] if arms else [],
            type="bar",
        )
    )
    decisions = Rollouts(session, project_id).decisions_of([r.id for r in rollouts])
    page.add(_rollouts_table(prefix, chosen.name, rollouts, decisions))
    page.add(_ab_table(rollouts, decisions))
    picked = next((r for r in rollouts if r.id == rollout_id), rollouts[0] if rollouts else None)
    if picked is not None:
        _progress(page, picked, decisions.get(picked.id, []))
    page.add(_traffic_over_time(session, project_id, chosen.name))
    page.add(metric_chart(session, project_id, "deployment-metrics", chosen.name))


def _role(live: dict[str, Any], arm: str) -> str:
    roles = [r for r in ("champion", "challenger", "baseline") if live.get(r) == arm]
    return " + ".join(roles) or "arm"


def _lineage_link(prefix: str, arm: str, link_id: str) -> dict[str, Any] | str:
    """``name:version`` arms link to that model version's lineage."""
    model, _, version = arm.rpartition(":")
    if not model or not version.isdigit():
        return ""
    href = f"{prefix}/lineage?{urlencode({'model': model, 'version': version})}"
    return link("lineage", href, link_id)


def _step_text(rollout: Rollout) -> str:
    if not rollout.steps:
        return str(rollout.step + 1)
    share = rollout.steps[min(rollout.step, len(rollout.steps) - 1)]
    return f"{rollout.step + 1}/{len(rollout.steps)} ({_percent(share)})"


def _rollouts_table(
    prefix: str,
    deployment: str,
    rollouts: Sequence[Rollout],
    decisions: dict[str, list[RolloutDecision]],
) -> dict[str, Any]:
    return table(
        "rollouts",
        "Rollouts",
        ["started", "champion", "challenger", "policy", "step", "status", "decisions"],
        [
            [
                when(r.created_at),
                r.champion,
                r.challenger,
                r.policy,
                _step_text(r),
                status(r.status),
                link(
                    len(decisions.get(r.id, [])),
                    f"{prefix}/deployments?{urlencode({'name': deployment, 'rollout': r.id})}",
                    f"rollout-{r.id[:8]}",
                ),
            ]
            for r in rollouts
        ],
        empty="no rollouts yet",
    )


def _ab_table(
    rollouts: Sequence[Rollout], decisions: dict[str, list[RolloutDecision]]
) -> dict[str, Any]:
    """The last measured comparison of each rollout: CTR per arm and the lift's 95% CI."""
    rows = []
    for r in rollouts:
        measured = [d for d in decisions.get(r.id, []) if "ctr_challenger" in d.numbers]
        if not measured:
            continue
        n = measured[-1].numbers
        low, high = n.get("lift_ci_low"), n.get("lift_ci_high")
        rows.append(
            [
                r.challenger,
                r.champion,
                _ratio(n.get("ctr_champion")),
                _ratio(n.get("ctr_challenger")),
                _signed(n.get("lift")),
                f"{_signed(low)} .. {_signed(high)}" if low is not None else None,
                _count_pair(n),
                measured[-1].action,
                status(r.status),
            ]
        )
    return table(
        "ab-results",
        "A/B results (challenger against champion)",
        [
            "challenger",
            "champion",
            "champion CTR",
            "challenger CTR",
            "lift",
            "lift 95% CI",
            "impressions",
            "decision",
            "outcome",
        ],
        rows,
        empty="no measured comparison yet",
    )


def _ratio(value: Any) -> str | None:
    return f"{value:.4f}" if isinstance(value, int | float) else None


def _signed(value: Any) -> str | None:
    return f"{value:+.4f}" if isinstance(value, int | float) else None


def _count_pair(numbers: dict[str, Any]) -> str | None:
    a, b = numbers.get("impressions_champion"), numbers.get("impressions_challenger")
    return None if a is None or b is None else f"{int(a)} / {int(b)}"


def _progress(page: Page, rollout: Rollout, decisions: list[RolloutDecision]) -> None:
    """One rollout step by step: each decision, the share it ran at and its numbers."""
    page.add(
        table(
            "decisions",
            f"Decisions of the rollout of {rollout.challenger} ({rollout.policy})",
            ["when", "action", "step", "traffic", "why", "numbers"],
            [
                [
                    when(d.created_at),
                    d.action,
                    d.step + 1,
                    _percent(rollout.steps[d.step]) if 0 <= d.step < len(rollout.steps) else None,
                    "; ".join(str(r) for r in d.reasons) or None,
                    short({k: _ratio(v) or v for k, v in d.numbers.items()}, 240),
                ]
                for d in decisions
            ],
            empty="no decisions yet",
        )
    )
    shares = [
        (when(d.created_at), d.numbers["challenger_share"])
        for d in decisions
        if "challenger_share" in d.numbers
    ]
    page.add(
        chart(
            "rollout-progress",
            f"Challenger share at each decision of {rollout.challenger}",
            [{"name": rollout.challenger, "x": [x for x, _ in shares], "y": [y for _, y in shares]}]
            if shares
            else [],
        )
    )


def _traffic_over_time(session: Session, project_id: str, deployment: str) -> dict[str, Any]:
    """Each arm's share of a day's live answers (how a bandit or a rollout moved traffic),
    over the last ``TRAFFIC_WINDOW`` of logged requests."""
    day = sa.func.date(ServedRequest.ts)
    latest = session.scalar(
        sa.select(sa.func.max(ServedRequest.ts)).where(
            ServedRequest.project_id == project_id, ServedRequest.deployment == deployment
        )
    )
    if latest is None:
        return chart("arm-traffic", "Share of live answers per arm, per day", [])
    counts = session.execute(
        sa.select(day, ServedRequest.arm, sa.func.count())
        .where(
            ServedRequest.project_id == project_id,
            ServedRequest.deployment == deployment,
            ServedRequest.shadow_of.is_(None),
            ServedRequest.ts >= latest - TRAFFIC_WINDOW,
        )
        .group_by(day, ServedRequest.arm)
        .order_by(day)
    ).all()
    totals: dict[str, int] = defaultdict(int)
    for d, _, n in counts:
        totals[str(d)] += n
    series: dict[str, dict[str, list[Any]]] = {}
    for d, arm, n in counts:
        s = series.setdefault(arm, {"x": [], "y": []})
        s["x"].append(str(d))
        s["y"].append(round(n / totals[str(d)], 4))
    return chart(
        "arm-traffic",
        "Share of live answers per arm, per day",
        [{"name": arm, **s} for arm, s in sorted(series.items())],
    )
