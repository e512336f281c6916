from __future__ import annotations

from pathlib import Path

import typer

from kibble.cli.output import JsonOption, console, emit, print_json
from kibble.cli.state import state

app = typer.Typer(help="Store and fetch content-addressed artifacts.")


@app.command("put")
def put(
    ctx: typer.Context,
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="file to store"),
    media_type: str = typer.Option(
        "",
        "--media-type",
        help="declared format; default from the suffix (.npz .npy .parquet .json)",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Store a file; prints its digest. Storing the same bytes twice is a no-op.

    Only files that load safely are taken (.npz/.npy without pickle, Parquet, JSON).
    """
    from kibble.artifacts.formats import SUFFIXES, check_upload

    media_type = media_type or SUFFIXES.get(path.suffix.lower(), "application/octet-stream")
    data = path.read_bytes()
    check_upload(data, media_type)
    context = state(ctx).context()
    ref = context.save_artifact(data, media_type, name=path.name)
    if as_json:
        print_json({"digest": ref.digest, "size": ref.size, "media_type": ref.media_type})
    else:
        console.print(ref.digest)


@app.command("get")
def get(
    ctx: typer.Context,
    digest: str = typer.Argument(..., help="sha256:<hex> digest"),
    output: Path = typer.Option(..., "--output", "-o", help="where to write the bytes"),
) -> None:
    """Write an artifact's verified bytes to a file."""
    context = state(ctx).context()
    output.write_bytes(context.load_artifact(digest))
    console.print(f"wrote {output}")


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: int = typer.Option(100, min=1, max=10_000),
    as_json: bool = JsonOption,
) -> None:
    """List this project's artifacts, newest first."""
    from kibble.store.repositories import ArtifactRecords

    context = state(ctx).context()
    with context.store.session() as session:
        rows = [
            {
                "digest": a.digest,
                "name": a.name,
                "media_type": a.media_type,
                "size": a.size,
                "run_id": a.run_id,
                "created_at": a.created_at,
            }
            for a in ArtifactRecords(session, context.project_id).list(limit)
        ]
    emit(
        rows,
        as_json,
        "artifacts",
        ["digest", "name", "type", "bytes"],
        ["digest", "name", "media_type", "size"],
    )
