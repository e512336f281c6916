"""`kibble api`, `kibble admin`, `kibble tokens` and `kibble audit`.

Local commands work on the store directly (whoever can read the store is already its
operator); with KIBBLE_API_URL and KIBBLE_TOKEN set, `tokens` and `audit` go through the
API instead, with the token's rights, and print the same thing.
"""

from __future__ import annotations

import getpass
import ipaddress
import re
import sys
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from kibble.client import Client
    from kibble.config import Settings
    from kibble.context import Context

from kibble.cli.output import JsonOption, console, emit, print_json
from kibble.cli.state import state

admin_app = typer.Typer(help="Bootstrap and manage a project's people (local, on the server).")
members_app = typer.Typer(help="Members of the project and their roles.")
tokens_app = typer.Typer(help="API tokens: create (shown once), list, revoke.")
audit_app = typer.Typer(help="The audit log: every mutating call, who, when, from where.")
admin_app.add_typer(members_app, name="members")

TOKEN_COLUMNS = ["id", "user", "name", "prefix", "role cap", "expires", "last used"]
TOKEN_KEYS = ["id", "user", "name", "prefix", "max_role", "expires_at", "last_used_at"]
ROLE_HELP = "viewer < editor < deployer < admin"


def _local_user() -> str:
    """The OS user as a kibble user name (lowercased, unsafe characters replaced)."""
    name = re.sub(r"[^a-z0-9_-]", "-", getpass.getuser().lower()).strip("-_")
    return name[:63] or "admin"


def _columns(row: Any, skip: tuple[str, ...] = ("token_hash",)) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def _remote(settings: Settings) -> Client | None:
    from kibble.client import Client

    if not settings.api_url:
        return None
    explicit = settings.sources.get("project", "default") != "default"
    return Client(settings.api_url, settings.token, project=settings.project if explicit else None)


def _local(ctx: typer.Context) -> Context:
    context = state(ctx).context()
    context.actor = _local_user()
    return context


# -- kibble api ------------------------------------------------------------------------


def serve_api(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="interface to bind (default api.host)"),
    port: int | None = typer.Option(None, "--port", help="port (default api.port, 8000)"),
    ui: bool = typer.Option(True, "--ui/--no-ui", help="also serve the dashboard at /ui"),
) -> None:
    """Run the control-plane REST API (auth on: every call needs a bearer token).

    It prints the dashboard's address. On a fresh local home (SQLite, nobody admin yet)
    it makes you admin of the project and prints your sign-in token once; elsewhere
    `kibble admin init` on this machine creates the first one. The spec is at
    /openapi.json. Requests must carry a Host in api.allowed_hosts.
    """
    import uvicorn

    from kibble.api import create_app

    settings = state(ctx).settings()
    app = create_app(settings, ui=ui)
    bind_host = host or settings.api.host
    bind_port = port or settings.api.port
    url = f"http://{_reachable(bind_host)}:{bind_port}"
    console.print(
        f"kibble API on {url} (allowed hosts: {settings.api.allowed_hosts}; spec at /openapi.json)"
    )
    if ui:
        console.print(f"dashboard: {url}/ui", highlight=False)
    _first_run_token(settings, app.state.kibble.store)
    sys.stdout.flush()  # the address and token show even when piped (uvicorn blocks)
    uvicorn.run(
        app,
        host=bind_host,
        port=bind_port,
        log_level=settings.log_level.lower(),
        server_header=False,
        proxy_headers=False,
    )


def _reachable(host: str) -> str:
    """The address to open for a bind address (a wildcard bind is reachable locally)."""
    try:
        return "127.0.0.1" if ipaddress.ip_address(host).is_unspecified else host
    except ValueError:  # a host name
        return host


def _first_run_token(settings: Settings, store: Any) -> None:
    """Say how to sign in. A fresh local home has nobody to sign in as: like `kibble
    admin init`, make the local user admin of the project and print the token once
    (whoever runs this can read the SQLite file, so they already own the store). A
    shared database never gets an admin implicitly."""
    from kibble.auth import bootstrap_admin
    from kibble.store.repositories import Projects
    from kibble.store.repositories.auth import admin_count

    with store.session() as session:
        if admin_count(session):
            console.print(
                "sign in with a token: `kibble tokens create --user NAME --role viewer` "
                "on this machine makes one"
            )
            return
        if not settings.database_url.startswith("sqlite"):
            console.print(
                "[yellow]no project has an admin yet: run `kibble admin init --project NAME` "
                "on this machine to create the first token[/yellow]"
            )
            return
        user = _local_user()
        project_id = Projects(session).ensure(settings.project).id
        issued = bootstrap_admin(
            session, project_id, user, actor=user, days=settings.api.token_days
        )
    console.print(
        f"first run: {user} is now admin of project {settings.project}. Sign in with this "
        "token (shown once, store it; `kibble tokens create` makes more):"
    )
    console.print(issued.value, highlight=False, soft_wrap=True)


# -- kibble admin ----------------------------------------------------------------------


@admin_app.command("init")
def init(
    ctx: typer.Context,
    project: str | None = typer.Option(None, "--project", help="project to create or join"),
    user: str | None = typer.Option(None, "--user", help="admin user name (default: you)"),
    days: int | None = typer.Option(
        None, "--days", min=1, max=3650, help="token lifetime (default api.token_days)"
    ),
    force: bool = typer.Option(
        False, "--force", help="add another admin even if one exists (audited)"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create the project and its first admin token, printed once. Run it on the server.

    No API endpoint can do this, so nobody can take over a fresh install remotely. It
    refuses when the project already has an admin unless --force (written to the audit log).
    """
    from kibble.auth import bootstrap_admin

    if project:
        cli = state(ctx)
        cli.overrides["project"] = project
        cli._settings = cli._context = None  # re-resolve with the new project
    context = _local(ctx)
    name = user or _local_user()
    with context.store.session() as session:
        issued = bootstrap_admin(
            session,
            context.project_id,
            name,
            actor=context.actor,
            force=force,
            days=days or context.settings.api.token_days,
        )
        data = {
            "project": context.project,
            "user": name,
            "role": "admin",
            "token": issued.value,
            "token_id": issued.record.id,
            "expires_at": issued.record.expires_at,
        }
    if as_json:
        print_json(data)
        return
    console.print(f"[green]{name} is admin of project {context.project}[/green]")
    console.print("token (shown once, store it now; use it as KIBBLE_TOKEN):")
    console.print(issued.value, highlight=False, soft_wrap=True)


@members_app.command("list")
def members_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List the project's members and roles."""
    from kibble.store.repositories.auth import Members

    context = _local(ctx)
    with context.store.session() as session:
        rows = [_columns(m) for m in Members(session, context.project_id).list()]
    emit(
        rows,
        as_json,
        f"members of {context.project}",
        ["user", "role", "added by"],
        ["user", "role", "added_by"],
    )


@members_app.command("set")
def members_set(
    ctx: typer.Context,
    user: str = typer.Argument(..., help="user name"),
    role: str = typer.Argument(..., help=ROLE_HELP),
    as_json: bool = JsonOption,
) -> None:
    """Add a member or change their role."""
    from kibble.auth.roles import check_role
    from kibble.core.names import validate_name
    from kibble.store.repositories.auth import Members

    context = _local(ctx)
    validate_name(user, "user name")
    check_role(role)
    with context.store.session() as session:
        row = _columns(Members(session, context.project_id).set(user, role, context.actor))
    context.audit("members.write", user, role=role)
    if as_json:
        print_json(row)
    else:
        console.print(f"{user} is {role} in {context.project}")


@members_app.command("remove")
def members_remove(ctx: typer.Context, user: str = typer.Argument(...)) -> None:
    """Remove a member; their tokens stop working at once."""
    from kibble.store.repositories.auth import Members

    context = _local(ctx)
    with context.store.session() as session:
        Members(session, context.project_id).remove(user)
    context.audit("members.write", user, removed=True)
    console.print(f"{user} removed from {context.project}")


# -- kibble tokens ---------------------------------------------------------------------


@tokens_app.command("create")
def tokens_create(
    ctx: typer.Context,
    user: str = typer.Option(..., "--user", help="who the token acts as"),
    role: str | None = typer.Option(
        None, "--role", help=f"also make USER a member with this role ({ROLE_HELP})"
    ),
    name: str = typer.Option("", "--name", help="what it is for, e.g. 'ci' or 'notebook'"),
    days: int | None = typer.Option(
        None, "--days", min=1, max=3650, help="lifetime in days (default api.token_days)"
    ),
    scope: list[str] | None = typer.Option(
        None, "--scope", help="narrow it: runs.read, artifacts.*, ... (repeatable)"
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create a token. Its value is printed once; only a hash is kept."""
    settings = state(ctx).settings()
    scopes = list(scope or [])
    client = _remote(settings)
    if client is not None:
        with client:
            if role:
                client.set_member(user, role)
            data = client.create_token(
                user, name=name, scopes=scopes, days=days or settings.api.token_days
            )
    else:
        from kibble.auth import issue_token
        from kibble.auth.roles import check_role
        from kibble.store.repositories.auth import Members

        context = _local(ctx)
        with context.store.session() as session:
            if role:
                Members(session, context.project_id).set(user, check_role(role), context.actor)
            issued = issue_token(
                session,
                context.project_id,
                user,
                created_by=context.actor,
                name=name,
                scopes=scopes,
                days=days or settings.api.token_days,
            )
            data = {"token": issued.value, **_columns(issued.record)}
        context.audit("tokens.write", data["id"], user=user, role=role)
    if as_json:
        print_json(data)
        return
    console.print(f"token {data['id']} for {user} (shown once, store it now):")
    console.print(data["token"], highlight=False, soft_wrap=True)


@tokens_app.command("list")
def tokens_list(
    ctx: typer.Context,
    include_revoked: bool = typer.Option(False, "--all", help="include revoked tokens"),
    as_json: bool = JsonOption,
) -> None:
    """List tokens (never their values)."""
    settings = state(ctx).settings()
    client = _remote(settings)
    if client is not None:
        with client:
            rows = client.tokens(include_revoked)
    else:
        from kibble.store.repositories.auth import Tokens

        context = _local(ctx)
        with context.store.session() as session:
            rows = [_columns(t) for t in Tokens(session, context.project_id).list(include_revoked)]
    emit(rows, as_json, "tokens", TOKEN_COLUMNS, TOKEN_KEYS)


@tokens_app.command("revoke")
def tokens_revoke(
    ctx: typer.Context,
    token_id: str = typer.Argument(..., help="the id from `kibble tokens list`"),
    as_json: bool = JsonOption,
) -> None:
    """Revoke a token; it stops working on its next request."""
    settings = state(ctx).settings()
    client = _remote(settings)
    if client is not None:
        with client:
            data = client.revoke_token(token_id)
    else:
        from kibble.store.models import utcnow
        from kibble.store.repositories.auth import Tokens

        context = _local(ctx)
        with context.store.session() as session:
            data = _columns(Tokens(session, context.project_id).revoke(token_id[:64], utcnow()))
        context.audit("tokens.write", token_id[:64], revoked=True)
    if as_json:
        print_json(data)
    else:
        console.print(f"token {data['id']} revoked")


# -- kibble audit ----------------------------------------------------------------------


@audit_app.command("list")
def audit_list(
    ctx: typer.Context,
    action: str | None = typer.Option(None, "--action", help="only this action, e.g. tokens.write"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = JsonOption,
) -> None:
    """Show the newest audit events first."""
    settings = state(ctx).settings()
    client = _remote(settings)
    if client is not None:
        with client:
            rows = client.audit(action, limit)
    else:
        from kibble.store.repositories import AuditLog

        context = _local(ctx)
        with context.store.session() as session:
            rows = [_columns(e) for e in AuditLog(session, context.project_id).list(action, limit)]
    emit(
        rows,
        as_json,
        "audit",
        ["when", "actor", "action", "target", "result", "source"],
        ["created_at", "actor", "action", "target", "result", "source"],
    )
