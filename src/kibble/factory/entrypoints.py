"""Can each declared pipeline run? Its entrypoint imports, names a kibble ``Pipeline``, and
its ``params`` are parameters of that pipeline's steps.

This imports the team's code (as the scheduler will), so it is not in the pure
``validate`` module; `kibble validate` and `kibble apply` both run it, so a definition
whose pipelines cannot be loaded is refused before anything is stored.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kibble.factory.definition import Factory, PipelineSpec
from kibble.factory.validate import Finding
from kibble.pipelines import Pipeline


@contextmanager
def importable_from(root: Path | None) -> Iterator[None]:
    """Entry points resolve from ``root`` (the folder of the definition) and the current
    directory, as `kibble run` and the scheduler resolve them."""
    added = [str(p) for p in dict.fromkeys([(root or Path.cwd()).resolve(), Path.cwd()])]
    added = [p for p in added if p not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for path in added:
            sys.path.remove(path)


def resolve_entrypoint(entrypoint: str) -> Any:
    module_name, _, attr = entrypoint.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


def _check(name: str, spec: PipelineSpec) -> list[Finding]:
    where = f"pipelines.{name}.entrypoint"
    ref = spec.entrypoint
    try:
        target = resolve_entrypoint(ref)
    except (ImportError, AttributeError) as exc:
        return [Finding("error", where, f"cannot import {ref}: {exc}; fix the entrypoint")]
    except Exception as exc:  # the module itself raised while importing
        return [Finding("error", where, f"cannot import {ref}: {type(exc).__name__}: {exc}")]
    if not isinstance(target, Pipeline):
        return [
            Finding(
                "error",
                where,
                f"{ref} is a {type(target).__name__}, not a Pipeline; "
                "point it at a kibble Pipeline(...)",
            )
        ]
    fields = target.params_model.model_fields
    findings = []
    unknown = sorted(set(spec.params) - set(fields))
    if unknown:
        findings.append(
            Finding(
                "error",
                f"pipelines.{name}.params",
                f"{', '.join(unknown)}: no step of {ref} takes such a parameter "
                f"(its parameters: {', '.join(fields) or 'none'})",
            )
        )
    required = sorted(k for k, f in fields.items() if f.is_required() and k not in spec.params)
    if required and (spec.schedule or spec.triggers):
        findings.append(
            Finding(
                "warning",
                f"pipelines.{name}.params",
                f"{', '.join(required)} required by {ref} but not given; "
                "its scheduled runs will fail",
            )
        )
    return findings


def entrypoint_findings(factory: Factory, root: Path | None = None) -> list[Finding]:
    """One finding per pipeline that cannot be loaded, or is given unknown parameters."""
    findings: list[Finding] = []
    with importable_from(root):
        for name, spec in sorted(factory.pipelines.items()):
            findings += _check(name, spec)
    return findings
