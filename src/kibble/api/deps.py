"""What every route depends on: the server's state, the caller, and their permission.

A route declares the action it performs with ``openapi_extra=action("runs.read")``; the
``scoped`` dependency authenticates the bearer token, checks that the token belongs to
the project in the path (another project's token gets 404, so projects cannot even be
discovered), and checks the role and scopes for that action. A route that forgets to
declare an action is refused for everyone: the default is closed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from kibble.artifacts import ArtifactStore
from kibble.auth import Principal, authenticate
from kibble.auth.roles import min_role
from kibble.config import Settings
from kibble.context import Context
from kibble.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from kibble.store import Store

ACTION_KEY = "x-kibble-action"
ROLE_KEY = "x-kibble-min-role"
PRINCIPAL_KEY = "kibble.principal"


@dataclass
class ApiState:
    settings: Settings
    store: Store
    artifacts: ArtifactStore


def action(name: str, minimum: str | None = None) -> dict[str, Any]:
    """Route metadata naming the action (and minimum role) it needs; shown in the spec."""
    return {ACTION_KEY: name, ROLE_KEY: minimum or min_role(name)}


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.kibble
    return state


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError(
            "this endpoint needs a bearer token",
            hint="send 'Authorization: Bearer kb_...'; create one with `kibble tokens create`",
        )
    return value.strip()


def authenticated(request: Request, state: Annotated[ApiState, Depends(api_state)]) -> Principal:
    """The caller, authenticated (401 otherwise), before any project check."""
    value = bearer(request)
    with state.store.session() as session:
        principal = authenticate(session, value)
    request.scope[PRINCIPAL_KEY] = principal
    return principal


def _declared_action(request: Request) -> tuple[str, str]:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    if ACTION_KEY not in extra:
        raise PermissionDeniedError(
            "this endpoint declares no permission, so it is closed",
            hint="developers: add openapi_extra=action('area.verb') to the route",
        )
    return str(extra[ACTION_KEY]), str(extra[ROLE_KEY])


@dataclass
class Scoped:
    """A request's principal and a Context bound to its project and actor."""

    principal: Principal
    context: Context
    state: ApiState

    @property
    def project_id(self) -> str:
        return self.principal.project_id

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.state.store.session() as session:
            yield session


def scoped(
    request: Request,
    project: Annotated[str, Path(min_length=1, max_length=63, description="project name")],
    principal: Annotated[Principal, Depends(authenticated)],
    state: Annotated[ApiState, Depends(api_state)],
) -> Scoped:
    """Authorize the caller for this route's action in the project named by the path."""
    if project != principal.project:
        raise NotFoundError(
            f"project {project[:63]!r} does not exist or this token cannot see it",
            hint="use a token created for that project",
        )
    name, minimum = _declared_action(request)
    principal.authorize(name, minimum)
    context = Context(
        settings=state.settings,
        store=state.store,
        artifacts=state.artifacts,
        project=principal.project,
        project_id=principal.project_id,
        actor=principal.actor,
    )
    return Scoped(principal, context, state)


Caller = Annotated[Principal, Depends(authenticated)]
ProjectScope = Annotated[Scoped, Depends(scoped)]
