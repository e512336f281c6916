"""A seeded control plane for API tests: two projects with one row of every kind each,
and tokens for every role plus expired, revoked, member-less and other-project ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI

from kibble.api import create_app
from kibble.auth import issue_token
from kibble.config import Settings, load_settings
from kibble.context import Context
from kibble.store.models import (
    Alert,
    ApiToken,
    Dataset,
    Deployment,
    ModelVersion,
    RegisteredModel,
    Run,
    ServedRequest,
    StepRun,
    TableVersion,
)
from kibble.store.repositories.auth import Members

HOSTS = "testserver,127.0.0.1,localhost"


@dataclass
class World:
    settings: Settings
    app: FastAPI
    context: Context
    other: Context
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    other_ids: set[str] = field(default_factory=set)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def make_settings(home: Path, **extra: object) -> Settings:
    return load_settings({"home": home, "api.allowed_hosts": HOSTS, **extra}, environ={})


def _seed_rows(ctx: Context) -> dict[str, str]:
    now = datetime.now(UTC)
    ids: dict[str, str] = {"project": ctx.project_id}
    ref = ctx.save_artifact(f"weights of {ctx.project}".encode(), "application/x-npz", name="m")
    ids["digest"] = ref.digest
    with ctx.store.session() as s:
        dataset = Dataset(project_id=ctx.project_id, name="events", uri="lake/events")
        run = Run(project_id=ctx.project_id, pipeline="daily", status="succeeded", started_at=now)
        model = RegisteredModel(project_id=ctx.project_id, name="recs")
        s.add_all([dataset, run, model])
        s.flush()
        step = StepRun(project_id=ctx.project_id, run_id=run.id, name="train")
        version = TableVersion(project_id=ctx.project_id, dataset_id=dataset.id, version=1)
        mv = ModelVersion(
            project_id=ctx.project_id,
            model_id=model.id,
            version=1,
            artifact_digest=ref.digest,
            flavor="als",
        )
        deployment = Deployment(project_id=ctx.project_id, name="shop", model_name="recs")
        alert = Alert(
            project_id=ctx.project_id, kind="drift", fingerprint="f", message=f"{ctx.project} drift"
        )
        served = ServedRequest(  # same request id in both projects, different answers
            project_id=ctx.project_id,
            request_id="req-1",
            deployment="shop",
            user_id=f"{ctx.project}-user",
            arm="recs:1",
            model_version="recs:1",
            probability=0.95,
            items=[{"item_id": f"{ctx.project}-item", "score": 1.0, "reasons": ["popular"]}],
            ts=now,
        )
        s.add_all([step, version, mv, deployment, alert, served])
        s.flush()
        ids.update(
            dataset=dataset.id,
            run=run.id,
            model=model.id,
            step=step.id,
            table_version=version.id,
            model_version=mv.id,
            deployment=deployment.id,
            alert=alert.id,
        )
    ctx.audit("seed", ctx.project)
    return ids


def _token(ctx: Context, user: str, role: str | None) -> tuple[str, str]:
    with ctx.store.session() as s:
        if role is not None:
            Members(s, ctx.project_id).set(user, role, "seed")
        issued = issue_token(s, ctx.project_id, user, created_by="seed", name=f"{user}-token")
        return issued.value, issued.record.id


def build_world(home: Path, database_url: str | None = None) -> World:
    settings = make_settings(home, **({"database_url": database_url} if database_url else {}))
    context = Context.open(settings, project="k9s", actor="seed")
    other = Context.open(settings, project="other", actor="seed")
    world = World(settings, create_app(settings, store=context.store), context, other)
    world.ids = _seed_rows(context)
    other_ids = _seed_rows(other)
    for who, role in [
        ("admin", "admin"),
        ("deployer", "deployer"),
        ("editor", "editor"),
        ("viewer", "viewer"),
    ]:
        world.tokens[who], world.ids[f"token_{who}"] = _token(context, who, role)
    world.tokens["expired"], expired_id = _token(context, "admin", None)
    world.tokens["revoked"], revoked_id = _token(context, "admin", None)
    world.tokens["nobody"], _ = _token(context, "nora", "viewer")
    world.tokens["spare"], world.ids["token_spare"] = _token(context, "viewer", None)
    world.tokens["other_admin"], other_ids["token"] = _token(other, "olga", "admin")
    with context.store.session() as s:
        Members(s, context.project_id).remove("nora")  # a token whose user left the project
        s.get_one(ApiToken, expired_id).expires_at = datetime.now(UTC) - timedelta(minutes=1)
        s.get_one(ApiToken, revoked_id).revoked_at = datetime.now(UTC)
        Members(s, context.project_id).set("temp", "viewer", "seed")
    world.other_ids = {v for k, v in other_ids.items() if k != "digest"} | {
        other_ids["digest"].split(":", 1)[1]
    }
    return world
