from __future__ import annotations

import typer

from kibble.cli.output import JsonOption, console, emit, print_json
from kibble.cli.state import state

app = typer.Typer(help="Projects (tenants): every record belongs to one.")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List projects."""
    from kibble.store.repositories import Projects

    context = state(ctx).context()
    with context.store.session() as session:
        rows = [
            {"name": p.name, "id": p.id, "description": p.description, "created_at": p.created_at}
            for p in Projects(session).list()
        ]
    emit(
        rows,
        as_json,
        "projects",
        ["name", "created", "description"],
        ["name", "created_at", "description"],
    )


@app.command("create")
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="lowercase name, e.g. k9s"),
    description: str = typer.Option("", "--description"),
    as_json: bool = JsonOption,
) -> None:
    """Create a project (no-op if it exists)."""
    from kibble.store.repositories import Projects

    context = state(ctx).context()
    with context.store.session() as session:
        project = Projects(session).ensure(name, description)
        data = {"name": project.name, "id": project.id}
    context.audit("project.create", name)
    if as_json:
        print_json(data)
    else:
        console.print(f"project {name} ready")
