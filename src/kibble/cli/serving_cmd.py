"""`kibble serve` (the online app) and `kibble rollout` (progressive delivery)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from kibble.context import Context

from kibble.cli.output import JsonOption, console, emit, print_json
from kibble.cli.state import state
from kibble.errors import UsageError

rollout_app = typer.Typer(
    help=(
        "Progressive delivery of a challenger model version. `start` begins a rollout "
        "under the deployment's rollout policy in the applied factory (default: gradual, "
        "5% -> 25% -> 50% -> 100%, sticky per user, with a permanent 5% baseline "
        "holdout); `step` runs the controller once (guardrails then objective: advance, "
        "hold or roll back, every decision stored with its numbers); `promote`/`abort` "
        "decide by hand; `replay` estimates a policy's click rate on logged traffic (IPS)."
    ),
    no_args_is_help=True,
)


def serve(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", help="registered model name to serve (serving.model)"
    ),
    deployment: str | None = typer.Option(
        None,
        "--deployment",
        help="the deployment this server answers for: its rollouts, routing and request "
        "log; recorded in the store, one model per deployment (serving.deployment)",
    ),
    host: str | None = typer.Option(None, "--host", help="bind address (serving.host)"),
    port: int | None = typer.Option(None, "--port", help="port (serving.port)"),
    poll: float = typer.Option(1.0, "--poll", help="seconds between store polls", min=0.05),
    controller: float = typer.Option(
        5.0,
        "--controller-interval",
        help="seconds between rollout controller steps; 0 turns the controller off",
        min=0.0,
    ),
) -> None:
    """Serve recommendations, feedback, OIP v2 and /metrics for one model deployment.

    Several replicas against one PostgreSQL store converge within ~--poll seconds of a
    promotion; each runs the rollout controller, and a row lock lets one decide per step.
    POST /v1/feedback needs a token with serving.write (`kibble tokens create --scope
    serving.write`) unless serving.public_feedback is on; the server attributes each
    event from its signed request_id, never from the client. Replicas on separate homes
    share KIBBLE_SECRET_KEY.
    """
    import uvicorn

    from kibble.rollouts.service import declare
    from kibble.serving.app import create_app

    settings = state(ctx).settings().serving
    model = model or settings.model
    if not model:
        raise UsageError(
            "no model to serve",
            hint="pass --model NAME or set KIBBLE_SERVING__MODEL (serving.model)",
        )
    deployment = deployment or settings.deployment
    context = state(ctx).context()
    declare(context, deployment, model)
    app = create_app(context, deployment, model, poll_s=poll, controller_s=controller)
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="warning")


def _since(text: str) -> datetime:
    m = re.fullmatch(r"(\d+)([mhd])", text)
    if not m:
        raise UsageError(f"bad --since {text!r}", hint="use e.g. 30m, 12h or 7d")
    unit = {"m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
    return datetime.now(UTC) - timedelta(**{unit: int(m.group(1))})


def _steps(text: str | None) -> list[float] | None:
    """``5,25,50,100`` (percent of live traffic) as the controller's shares."""
    if text is None:
        return None
    try:
        steps = [float(part) for part in text.split(",")]
    except ValueError:
        steps = []
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise UsageError(
            f"bad --steps {text!r}", hint="strictly ascending percentages, e.g. 5,25,50,100"
        )
    return [s / 100 for s in steps]


DeploymentOption = typer.Option(
    None, "--deployment", help="default: the project's only deployment (else 'default')"
)


def _deployment(context: Context, given: str | None) -> str:
    """The deployment named, or the project's only one (the demo's is `k9s`)."""
    import sqlalchemy as sa

    if given:
        return given
    from kibble.store.models import Deployment

    with context.store.session() as session:
        names = list(
            session.scalars(
                sa.select(Deployment.name)
                .where(Deployment.project_id == context.project_id)
                .order_by(Deployment.name)
            )
        )
    if len(names) > 1:
        raise UsageError(
            f"this project has {len(names)} deployments", hint=f"pass --deployment, one of {names}"
        )
    return names[0] if names else "default"


@rollout_app.command("start")
def start_cmd(
    ctx: typer.Context,
    challenger: str | None = typer.Argument(
        None,
        help="name:version, or a model name for its challenger alias "
        "(default: the challenger of the model the factory deploys to --deployment)",
    ),
    deployment: str = typer.Option("default", "--deployment"),
    policy: str | None = typer.Option(
        None,
        "--policy",
        help="gradual, canary, ab, shadow or bandit "
        "(default: the deployment's rollout policy in the applied factory, else gradual)",
    ),
    steps: str | None = typer.Option(
        None,
        "--steps",
        help="challenger share per step in percent, e.g. 5,25,50,100 "
        "(default: the factory's rollout policy, else 5,25,50,100)",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Start rolling out CHALLENGER against the registry's champion.

    Strategy, steps and the controller's guardrails come from the deployment's rollout
    policy in the applied factory (`deployments:`) unless given here."""
    from kibble.factory.applied import rollout_policy
    from kibble.rollouts.service import start

    context = state(ctx).context()
    if challenger is None:
        declared = rollout_policy(context, deployment)
        if declared is None:
            raise UsageError(
                f"name the CHALLENGER: the factory declares no rollout for {deployment!r}",
                hint="e.g. `kibble rollout start recs:3 --deployment default`",
            )
        challenger = declared.model
    name, sep, _ = challenger.rpartition(":")
    model, version = (name, challenger) if sep else (challenger, None)
    out = start(context, deployment, model, version, policy, _steps(steps))
    print_json(out) if as_json else console.print(f"rollout {out['id']} started: {out}")


@rollout_app.command("status")
def status_cmd(
    ctx: typer.Context,
    deployment: str | None = DeploymentOption,
    as_json: bool = JsonOption,
) -> None:
    """The rollout's state and every decision with its numbers."""
    from kibble.rollouts.service import status

    context = state(ctx).context()
    out = status(context, _deployment(context, deployment))
    if as_json:
        print_json(out)
        return
    console.print(f"{out['challenger']} vs {out['champion']}: {out['status']} step {out['step']}")
    emit(
        out["decisions"],
        False,
        "decisions",
        ["at", "action", "step", "reasons"],
        ["at", "action", "step", "reasons"],
    )


@rollout_app.command("step")
def step_cmd(
    ctx: typer.Context,
    deployment: str | None = DeploymentOption,
    as_json: bool = JsonOption,
) -> None:
    """Run the controller once; safe to repeat (level-triggered)."""
    from kibble.rollouts.service import step

    context = state(ctx).context()
    out = step(context, _deployment(context, deployment))
    print_json(out) if as_json else console.print(f"{out['action']}: {'; '.join(out['reasons'])}")


@rollout_app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    deployment: str | None = DeploymentOption,
    reason: str = typer.Option("operator promotion", "--reason"),
    as_json: bool = JsonOption,
) -> None:
    """Make the challenger champion now."""
    from kibble.rollouts.service import finish

    context = state(ctx).context()
    out = finish(context, _deployment(context, deployment), "promote", reason)
    print_json(out) if as_json else console.print(f"promoted {out['challenger']}")


@rollout_app.command("abort")
def abort_cmd(
    ctx: typer.Context,
    deployment: str | None = DeploymentOption,
    reason: str = typer.Option("operator abort", "--reason"),
    as_json: bool = JsonOption,
) -> None:
    """Roll back: 100% to the champion, reason recorded."""
    from kibble.rollouts.service import finish

    context = state(ctx).context()
    out = finish(context, _deployment(context, deployment), "abort", reason)
    print_json(out) if as_json else console.print(f"rolled back {out['challenger']}")


@rollout_app.command("replay")
def replay_cmd(
    ctx: typer.Context,
    policy: str = typer.Argument(..., help="canary, gradual, ab, shadow or bandit"),
    champion: str = typer.Option(..., "--champion", help="name:version"),
    challenger: str | None = typer.Option(None, "--challenger", help="name:version"),
    share: float = typer.Option(0.5, "--share", help="challenger share"),
    since: str = typer.Option("7d", "--since", help="window, e.g. 12h or 7d"),
    deployment: str = typer.Option("default", "--deployment", help="hash salt"),
    as_json: bool = JsonOption,
) -> None:
    """Estimate POLICY's click rate on logged traffic (IPS and self-normalised IPS)."""
    from kibble.rollouts.service import replay
    from kibble.serving.routing import RoutingSpec

    spec = RoutingSpec(
        policy, champion, challenger, challenger_share=share, holdout_share=0.0, salt=deployment
    )
    out = replay(state(ctx).context(), spec, _since(since))
    print_json(out) if as_json else emit([out], False, "replay", list(out), list(out))


requests_app = typer.Typer(
    help="Served requests in the request log: find an id for `kibble lineage request:ID`.",
    no_args_is_help=True,
)


@requests_app.command("list")
def requests_list(
    ctx: typer.Context,
    deployment: str | None = typer.Option(None, "--deployment", help="only this deployment"),
    user: str | None = typer.Option(None, "--user", help="only answers to this customer"),
    limit: int = typer.Option(20, "--limit", min=1, max=1000, help="how many, newest first"),
    as_json: bool = JsonOption,
) -> None:
    """The newest served requests: id, when, deployment, customer, arm and items shown."""
    from kibble.store.repositories.serving import ServedRequests

    context = state(ctx).context()
    with context.store.session() as session:
        rows = [
            {
                "request_id": r.request_id,
                "ts": r.ts,
                "deployment": r.deployment,
                "user_id": r.user_id,
                "arm": r.arm,
                "model_version": r.model_version,
                "items": len(r.items),
            }
            for r in ServedRequests(session, context.project_id).latest(
                limit, deployment=deployment, user=user
            )
        ]
    emit(
        rows,
        as_json,
        "served requests (newest first)",
        ["request", "served", "deployment", "user", "arm", "items"],
        ["request_id", "ts", "deployment", "user_id", "arm", "items"],
    )
