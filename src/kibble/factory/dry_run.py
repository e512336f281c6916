"""`kibble validate --dry-run`: run every pipeline on a sample, in a throwaway home, so
production tables, models and aliases are never touched."""

from __future__ import annotations

import tempfile
from pathlib import Path

from kibble.config import Settings
from kibble.factory.definition import Factory
from kibble.factory.entrypoints import importable_from, resolve_entrypoint
from kibble.factory.validate import Finding


def dry_run(factory: Factory, settings: Settings, root: Path) -> list[Finding]:
    """Entry points resolve from ``root`` (the repository holding the definition) first;
    one that does not load is skipped here (``entrypoint_findings`` names it)."""
    with importable_from(root):
        return _dry_run(factory, settings)


def _dry_run(factory: Factory, settings: Settings) -> list[Finding]:
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="kibble-dry-run-") as scratch:
        sandbox = settings.model_copy(
            update={
                "home": Path(scratch),
                "database_url": f"sqlite:///{Path(scratch) / 'kibble.db'}",
                "artifact_url": str(Path(scratch) / "artifacts"),
                "lake_url": str(Path(scratch) / "lake"),
            }
        )
        for name, spec in factory.pipelines.items():
            path = f"pipelines.{name}"
            try:
                target = resolve_entrypoint(spec.entrypoint)
            except Exception:  # noqa: S112 - entrypoint_findings reports it
                continue
            runner = getattr(target, "dry_run", None)
            if runner is None:
                findings.append(
                    Finding(
                        "warning",
                        path,
                        f"{spec.entrypoint} has no dry_run(); only its import was checked",
                    )
                )
                continue
            try:
                runner(sandbox, project=factory.project, params=dict(spec.params))
            except Exception as exc:  # report every pipeline, not just the first failure
                findings.append(Finding("error", path, f"dry run failed: {exc}"))
    return findings
