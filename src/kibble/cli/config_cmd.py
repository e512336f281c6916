from __future__ import annotations

import typer

from kibble.cli.output import JsonOption, print_json, print_table
from kibble.cli.state import state

app = typer.Typer(help="Inspect the effective settings and where each value came from.")


@app.command("show")
def show(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Print every setting, its value and its source (default, file, env or cli)."""
    from kibble.config import _flatten

    settings = state(ctx).settings()
    flat = _flatten(settings.public_dict())
    sources = settings.sources
    if as_json:
        print_json(
            {
                "settings": settings.public_dict(),
                "sources": {key: sources.get(key, "default") for key in flat},
            }
        )
        return
    rows = [[key, value, sources.get(key, "default")] for key, value in sorted(flat.items())]
    print_table("kibble settings", ["key", "value", "source"], rows)
