from __future__ import annotations

import typer

from kibble.cli.output import JsonOption, console, print_json
from kibble.cli.state import state

app = typer.Typer(help="Operate the metadata store (migrations, status).")


@app.command("upgrade")
def upgrade(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Apply pending migrations. Safe to run from several replicas at once."""
    from kibble.store import Store, migrate

    settings = state(ctx).settings()
    store = Store.open(settings, migrate_schema=False)
    applied = store.upgrade()
    heads = sorted(migrate.current_revisions(store.engine))
    store.close()
    if as_json:
        print_json({"applied": applied, "current": heads, "dialect": store.dialect})
        return
    if applied:
        console.print(f"applied {len(applied)} migration(s); now at {', '.join(heads)}")
    else:
        console.print(f"already up to date at {', '.join(heads)}")


@app.command("status")
def status(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Show the schema revision of the store against the newest one this kibble knows."""
    from kibble.store import Store, migrate

    settings = state(ctx).settings()
    store = Store.open(settings, migrate_schema=False)
    current = sorted(migrate.current_revisions(store.engine))
    heads = sorted(migrate.head_revisions())
    store.close()
    data = {"current": current, "head": heads, "up_to_date": current == heads}
    if as_json:
        print_json(data)
        return
    verdict = "up to date" if data["up_to_date"] else "needs `kibble db upgrade`"
    console.print(f"store at {current or ['(empty)']}, code at {heads}: {verdict}")


@app.command("revision", hidden=True)
def revision(
    ctx: typer.Context,
    message: str = typer.Argument(..., help="what the migration does"),
    rev_id: str = typer.Option(..., "--rev-id", help="e.g. 0002_data"),
    head: str = typer.Option("heads", "--head", help="revision to build on, e.g. 0001_foundation"),
    branch_label: str | None = typer.Option(None, "--branch-label"),
) -> None:
    """(developers) Autogenerate a migration from the models into the source tree."""
    from kibble.store import Store, migrate

    settings = state(ctx).settings()
    store = Store.open(settings, migrate_schema=False)
    migrate.new_revision(store.engine, message, rev_id, head=head, branch_label=branch_label)
    store.close()
    console.print(f"wrote migration {rev_id}; review it before committing")
