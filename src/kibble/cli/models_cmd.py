"""`kibble models`: registered models, versions, aliases, gate reports, promotion, export."""

from __future__ import annotations

from pathlib import Path

import typer

from kibble.cli.output import JsonOption, console, emit, print_json
from kibble.cli.state import state
from kibble.errors import UsageError

app = typer.Typer(
    help=(
        "Registered models and their versions. Aliases (champion, challenger, baseline) move "
        "atomically and every move is kept in the history with who, why and the gate report; "
        "`rollback` puts the previous champion back; `export` writes an MLflow-style folder."
    ),
    no_args_is_help=True,
)


@app.command("list")
def list_cmd(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List registered models with their latest version and champion."""
    from sqlalchemy import select

    from kibble.store.models import ModelVersion, RegisteredModel
    from kibble.store.repositories.registry import Registry

    context = state(ctx).context()
    rows = []
    with context.store.session() as s:
        reg = Registry(s, context.project_id)
        for m in s.scalars(
            select(RegisteredModel)
            .where(RegisteredModel.project_id == context.project_id)
            .order_by(RegisteredModel.name)
        ):
            versions = s.scalars(select(ModelVersion.version).where(ModelVersion.model_id == m.id))
            champ = reg.alias(m, "champion")
            rows.append(
                {
                    "name": m.name,
                    "latest": max(versions, default=None),
                    "champion": None if champ is None else champ.version,
                }
            )
    emit(rows, as_json, "models", ["name", "latest", "champion"], ["name", "latest", "champion"])


@app.command("show")
def show_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="registered model name"),
    as_json: bool = JsonOption,
) -> None:
    """Show versions, aliases, gate verdicts and the alias history of one model."""
    from kibble.registry.lifecycle import describe_model

    data = describe_model(state(ctx).context(), name)
    aliases, versions, history = data["aliases"], data["versions"], data["history"]
    policy = data["policy"]
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{name}[/bold]  " + "  ".join(f"{a}={v}" for a, v in aliases.items()))
    console.print(
        f"  gate policy ({policy['source']}): {policy['metric']} beats baseline="
        f"{policy['beat_baseline']}, champion tolerance {policy['champion_tolerance']}, "
        f"probe={policy['safety_probe']}",
        highlight=False,
    )
    for row in versions:
        gate = row["gate"]
        verdict = "-" if gate is None else ("passed" if gate["passed"] else "FAILED")
        console.print(f"  v{row['version']} {row['flavor']} {row['status']} gates: {verdict}")
        for c in (gate or {}).get("checks", []):
            console.print(f"    {'ok ' if c['passed'] else 'BAD'} {c['name']}: {c['sentence']}")
    emit(
        history,
        False,
        "alias history",
        ["at", "alias", "from", "to", "actor", "reason"],
        ["at", "alias", "from", "to", "actor", "reason"],
    )


@app.command("register")
def register_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="registered model name (created on first use)"),
    artifact: str = typer.Option(
        ..., "--artifact", help="a saved model file, or sha256:... of a recorded artifact"
    ),
    run: str | None = typer.Option(
        None, "--run", help="the run that trained it: its table versions join the lineage"
    ),
    flavor: str = typer.Option("recommender", "--flavor", help="what kind of model it is"),
    as_json: bool = JsonOption,
) -> None:
    """Register the next version of a model from an artifact (and the run that made it)."""
    from kibble.registry.lifecycle import register_model

    context = state(ctx).context()
    info = register_model(context, name, _artifact(artifact), flavor=flavor, run_id=run)
    if as_json:
        print_json(info)
        return
    console.print(f"registered {name} v{info['version']} ({info['digest'][:19]}...)")
    console.print(f"next: `kibble models gate {name} {info['version']}`", highlight=False)


def _artifact(value: str) -> str | Path:
    return value if value.startswith("sha256:") else Path(value)


@app.command("gate")
def gate_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="registered model name"),
    version: int = typer.Argument(..., help="version to judge"),
    table: str = typer.Option(
        "events",
        "--table",
        help="events table of the held-out users (a logged model: the table with its label)",
    ),
    label: str | None = typer.Option(
        None, "--label", help="label column, for a model from kibble.log_model (default: its own)"
    ),
    slice_by: str | None = typer.Option(
        None, "--slice-by", help="column whose groups must each not get worse (logged models)"
    ),
    allow_class: list[str] = typer.Option(
        [],
        "--allow-class",
        help="MODULE:CLASS the probe may import (deliberately broken test models only)",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run the model's stored gate policy on a version: the safety probe (in its own
    process), then baseline, champion, slice (warm/cold users), coverage and diversity
    checks on held-out users. Passing makes it challenger; failing archives it.
    Exits 1 when the gate refuses the version."""
    from kibble.registry.lifecycle import gate_model

    context = state(ctx).context()
    report = gate_model(
        context,
        name,
        version,
        table=table,
        probe_allow=allow_class,
        label=label,
        slice_by=slice_by,
    )
    if as_json:
        print_json(report.model_dump(mode="json"))
    else:
        verdict = "passed: now challenger" if report.passed else "REFUSED: archived"
        console.print(f"{name} v{version} {verdict} (policy: {report.policy_source})")
        for c in report.checks:
            console.print(f"  {'ok ' if c.passed else 'BAD'} {c.name}: {c.sentence}")
    if not report.passed:
        raise typer.Exit(1)


@app.command("promote")
def promote_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="registered model name"),
    version: int = typer.Argument(..., help="version number to point the alias at"),
    alias: str = typer.Option("champion", "--alias", help="champion, challenger or baseline"),
    reason: str = typer.Option(..., "--reason", help="why (kept in history and audit)"),
) -> None:
    """Point an alias at a version (atomic; recorded with who and why)."""
    from kibble.registry.lifecycle import promote_model

    promote_model(state(ctx).context(), name, version, alias=alias, reason=reason)
    console.print(f"{name}: {alias} -> v{version}")


@app.command("rollback")
def rollback_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="registered model name"),
    reason: str = typer.Option("rollback", "--reason", help="why (kept in history and audit)"),
) -> None:
    """Put the previous champion back."""
    from kibble.registry.lifecycle import rollback_model

    out = rollback_model(state(ctx).context(), name, reason=reason)
    console.print(f"{name}: champion -> v{out['version']}")


@app.command("archive")
def archive_cmd(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="registered model name"),
    version: int = typer.Argument(..., help="version to archive (never promotable again)"),
) -> None:
    """Archive a version so it can no longer be promoted."""
    from kibble.registry.lifecycle import archive_model

    archive_model(state(ctx).context(), name, version)
    console.print(f"{name}: v{version} archived")


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    version: str = typer.Argument(..., help="name:version to export"),
    directory: Path = typer.Argument(..., help="folder to write (must not exist)"),
    fmt: str = typer.Option("mlflow", "--format", help="only 'mlflow' for now"),
) -> None:
    """Write an MLflow pyfunc folder that `mlflow.pyfunc.load_model` and `mlflow models
    predict` load: MLmodel (signature, input example), environment files, the blob."""
    from kibble.registry.mlflow_flavor import export_version

    if fmt != "mlflow":
        raise UsageError(f"unknown export format {fmt!r}", hint="use --format mlflow")
    name, _, num = version.partition(":")
    if not num.isdigit():
        raise UsageError(f"bad version {version!r}", hint="write it as name:version, e.g. recs:3")
    export_version(state(ctx).context(), name, int(num), directory)
    console.print(f"exported {name}:{num} to {directory}")


@app.command("import")
def import_cmd(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="an MLflow pyfunc folder kibble exported"),
    name: str | None = typer.Option(None, "--name", help="register under this model name"),
    as_json: bool = JsonOption,
) -> None:
    """Register an MLflow pyfunc folder (from `kibble models export`) as a new version."""
    from kibble.registry.mlflow_flavor import import_version

    out = import_version(state(ctx).context(), directory, name)
    if as_json:
        print_json(out.__dict__)
    else:
        console.print(f"imported {directory} as {out.name}:{out.version} ({out.flavor})")
