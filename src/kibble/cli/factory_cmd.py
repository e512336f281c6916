"""`kibble init|validate|plan|apply` and `kibble factory history|show|rollback`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from kibble.context import Context

from kibble.cli.output import JsonOption, console, emit, print_json
from kibble.cli.state import state
from kibble.errors import UsageError

app = typer.Typer(help="History and rollback of applied factory versions.")

PathArg = typer.Argument(None, help="factory file or folder (default: ./factory.py)")


def _context_for(ctx: typer.Context, project: str) -> Context:
    cli = state(ctx)
    cli.default_project(project)
    return cli.context()


def _project_context(ctx: typer.Context) -> Context:
    """The project named by flags/env, else the one of ./factory.py when there is one."""
    from kibble.factory.load import load_definition

    try:
        factory, _ = load_definition(None)
    except UsageError:
        return state(ctx).context()
    return _context_for(ctx, factory.project)


def init(
    folder: Path = typer.Argument(Path("."), help="where to write factory.py"),
    force: bool = typer.Option(False, "--force", help="overwrite an existing factory.py"),
) -> None:
    """Scaffold a factory definition (the K9s example, with comments that teach)."""
    from importlib.resources import files

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "factory.py"
    if target.exists() and not force:
        raise UsageError(f"{target} already exists", hint="use --force to overwrite it")
    templates = files("kibble.factory") / "templates"
    target.write_text((templates / "factory.py.txt").read_text())
    workflow = folder / "ci" / "factory-workflow.yml"
    workflow.parent.mkdir(exist_ok=True)
    workflow.write_text((templates / "ci-workflow.yml.txt").read_text())
    console.print(f"wrote {target} and {workflow}")
    console.print("next: edit it, then `kibble validate`, `kibble plan`, `kibble apply`")


def validate(
    ctx: typer.Context,
    path: Path | None = PathArg,
    dry: bool = typer.Option(False, "--dry-run", help="also run every pipeline on a sample"),
    as_json: bool = JsonOption,
) -> None:
    """Check the definition (references, cron, thresholds, secrets, and that every
    pipeline's entrypoint imports as a Pipeline taking its params); exit 1 on errors.

    Fits a CI job: errors fail the job, warnings are printed. With --dry-run each pipeline
    runs on a small sample in a throwaway home, never touching production state."""
    from kibble.factory import service
    from kibble.factory.dry_run import dry_run
    from kibble.factory.entrypoints import entrypoint_findings
    from kibble.factory.load import load_definition
    from kibble.factory.validate import validate as validate_definition

    factory, found = load_definition(path)
    findings = validate_definition(factory) + entrypoint_findings(factory, found.parent)
    if dry:
        findings += dry_run(factory, state(ctx).settings(), found.parent)
    errors = [f for f in findings if f.level == "error"]
    if as_json:
        print_json(
            {"path": str(found), "ok": not errors, "findings": service.findings_as_dicts(findings)}
        )
    else:
        for finding in findings:
            style = "red" if finding.level == "error" else "yellow"
            console.print(f"[{style}]{finding}[/{style}]", highlight=False)
        verdict = "invalid" if errors else "valid"
        console.print(
            f"{found}: {verdict} ({len(errors)} error(s), {len(findings) - len(errors)} warning(s))"
        )
    if errors:
        raise typer.Exit(1)


def plan(ctx: typer.Context, path: Path | None = PathArg, as_json: bool = JsonOption) -> None:
    """Show what `kibble apply` would change against the applied version: per kind (lake
    contracts, sources, schedules, promotion gates, rollout policies, alerts), then each
    changed setting."""
    from kibble.factory import service
    from kibble.factory.diff import KINDS
    from kibble.factory.load import load_definition

    factory, _ = load_definition(path)
    context = _context_for(ctx, factory.project)
    result = service.plan(context, factory)
    if as_json:
        print_json(result.as_dict())
        return
    base = f"version {result.current_version}" if result.current_version else "nothing applied"
    for kind, what in KINDS.items():
        counts = result.kinds[kind]
        marks = [
            f"{sign}{name}"
            for sign, key in (("+", "added"), ("~", "changed"), ("-", "removed"))
            for name in counts[key]
        ]
        console.print(
            f"{kind:<12} -> {what:<23} {counts['declared']} declared; "
            + (" ".join(marks) if marks else "no change"),
            highlight=False,
            markup=False,
        )
    if result.empty:
        console.print(f"no changes against {base}")
        return
    console.print(f"{len(result.changes)} change(s) against {base}:")
    for change in result.changes:
        console.print(change.render(), highlight=False, markup=False)
    for what, reasons in result.needs_allow.items():
        console.print(f"[yellow]needs --allow {what}: {reasons[0]}[/yellow]")


def apply(
    ctx: typer.Context,
    path: Path | None = PathArg,
    allow: list[str] = typer.Option([], "--allow", help="breaking-contract | no-gates"),
    as_json: bool = JsonOption,
) -> None:
    """Apply the definition atomically as a new factory version (no-op if unchanged)."""
    from kibble.factory import service
    from kibble.factory.load import git_info, load_definition

    factory, found = load_definition(path)
    context = _context_for(ctx, factory.project)
    version, created = service.apply(
        context, factory, allow=set(allow), git=git_info(found), root=found.parent
    )
    data = {
        "version": version.version,
        "digest": version.digest,
        "created": created,
        "git": version.git,
    }
    if as_json:
        print_json(data)
    elif created:
        console.print(f"applied factory version {version.version} ({version.digest[:19]})")
    else:
        console.print(f"already at factory version {version.version}; nothing to apply")


@app.command("history")
def history(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List applied factory versions, newest first."""
    from kibble.factory import service

    rows = [
        {
            "version": v.version,
            "digest": v.digest,
            "applied_by": v.applied_by,
            "created_at": v.created_at,
            "commit": v.git.get("commit", "")[:12],
            "note": v.note,
        }
        for v in service.history(_project_context(ctx))
    ]
    emit(
        rows,
        as_json,
        "factory versions",
        ["version", "applied", "by", "commit", "note"],
        ["version", "created_at", "applied_by", "commit", "note"],
    )


@app.command("show")
def show(
    ctx: typer.Context, version: int | None = typer.Argument(None), as_json: bool = JsonOption
) -> None:
    """Print an applied definition (default: the active one)."""
    from kibble.factory import service

    context = _project_context(ctx)
    found = service.get_version(context, version) if version else service.active(context)
    if found is None:
        raise UsageError("no factory has been applied to this project", hint="run `kibble apply`")
    data = {"version": found.version, "digest": found.digest, "git": found.git, "spec": found.spec}
    if as_json:
        print_json(data)
    else:
        console.print_json(data=data)


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    version: int = typer.Argument(..., help="version to restore"),
    as_json: bool = JsonOption,
) -> None:
    """Restore an earlier version's contracts, schedules and policies (a new version)."""
    from kibble.factory import service

    restored, created = service.rollback(_project_context(ctx), version)
    if as_json:
        print_json({"version": restored.version, "restored_from": version, "created": created})
    else:
        console.print(
            f"factory version {restored.version} now holds version {version}'s definition"
        )
