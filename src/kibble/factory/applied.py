"""What the project's active factory version declares, read back by the services that act
on it: the rollout controller (a deployment's rollout policy) and ingestion (a source).

The active version is the latest applied one; a rollback applies an earlier definition
as a new version, so reading the latest row is reading what the project runs now.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from kibble.context import Context
from kibble.errors import NotFoundError
from kibble.factory.definition import RolloutPolicy, SourceSpec
from kibble.store.models import FactoryVersion


def _declared(context: Context, kind: str) -> dict[str, Any]:
    with context.store.session() as session:
        spec: dict[str, Any] | None = session.scalar(
            sa.select(FactoryVersion.spec)
            .where(FactoryVersion.project_id == context.project_id)
            .order_by(FactoryVersion.version.desc())
            .limit(1)
        )
    found = (spec or {}).get(kind, {})
    return found if isinstance(found, dict) else {}


def rollout_policy(context: Context, deployment: str) -> RolloutPolicy | None:
    """The rollout policy the applied factory declares for ``deployment`` (None: none is
    declared, and the controller keeps its built-in defaults)."""
    found = _declared(context, "deployments").get(deployment)
    return None if found is None else RolloutPolicy.model_validate(found)


def source(context: Context, name: str) -> SourceSpec:
    """A source the applied factory declares, or a NotFoundError naming those it has."""
    sources = _declared(context, "sources")
    if name not in sources:
        raise NotFoundError(
            f"source {name!r} is not declared in project {context.project!r}'s applied factory",
            hint=f"declared sources: {', '.join(sorted(sources)) or 'none'}; "
            "declare it under sources= and run `kibble apply`",
        )
    return SourceSpec.model_validate(sources[name])


def sources(context: Context) -> dict[str, SourceSpec]:
    """Every source the applied factory declares (name -> spec); empty without one."""
    return {
        name: SourceSpec.model_validate(spec)
        for name, spec in sorted(_declared(context, "sources").items())
    }
