"""The web dashboard served by `kibble api` under ``/ui``, signed in with the same tokens.

The dashboard (``kibble.ui``) builds its own routes with the ``/ui`` prefix in them, so
it is attached as a sub-app that sees the full path. Only tokens that are not narrowed
by scopes may sign in: a dashboard session can see every page of the project.
`kibble api` serves it by default (``--no-ui`` turns it off).

Releasing a held run from the run page is the pipelines' own ``release`` (audited as
``run.release`` by the signed-in person); the run becomes ``released`` and the scheduler
resumes it, so no pipeline code runs inside the API process.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from kibble.auth import resolve
from kibble.context import Context
from kibble.pipelines import release
from kibble.ui.app import Principal as UiPrincipal
from kibble.ui.app import create_ui

PREFIX = "/ui"


def resolve_for_ui(session: Session, token: str) -> UiPrincipal | None:
    """A dashboard principal for a live, unscoped token of a current member."""
    principal = resolve(session, token)
    if principal is None or principal.role is None:
        return None
    if principal.scopes and "*" not in principal.scopes:
        return None
    return UiPrincipal(principal.actor, principal.project, principal.project_id, principal.role)


class _FullPath:
    """Call ``app`` with the path it was mounted at left in place (its routes carry it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app({**scope, "root_path": ""}, receive, send)


def release_for_ui(context: Context, run_id: str, reason: str, actor: str) -> None:
    """Release a held run as ``actor`` (``context`` is already scoped to them)."""
    context.actor = actor
    release(context, run_id, reason)


def attach(app: FastAPI, context: Context) -> None:
    ui = create_ui(context, resolve_token=resolve_for_ui, release_run=release_for_ui, prefix=PREFIX)

    @app.get(PREFIX, include_in_schema=False)
    def dashboard() -> RedirectResponse:
        """The bare address (what `kibble api` prints): the mount only matches /ui/..."""
        return RedirectResponse(f"{PREFIX}/overview", status_code=303)

    app.mount(PREFIX, _FullPath(ui), name="dashboard")
