"""`kibble validate --dry-run`: import every pipeline and run it on a sample, in a
throwaway home, so production tables, models and aliases are never touched."""

from __future__ import annotations

import importlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from kibble.config import Settings
from kibble.factory.definition import Factory
from kibble.factory.validate import Finding


def resolve_entrypoint(entrypoint: str) -> Any:
    module_name, _, attr = entrypoint.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def dry_run(factory: Factory, settings: Settings, root: Path) -> list[Finding]:
    """Entry points resolve from ``root`` (the repository holding the definition) first."""
    sys.path.insert(0, str(root.resolve()))
    try:
        return _dry_run(factory, settings)
    finally:
        sys.path.remove(str(root.resolve()))


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
            except (ImportError, AttributeError) as exc:
                findings.append(Finding("error", path, f"cannot import {spec.entrypoint}: {exc}"))
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
