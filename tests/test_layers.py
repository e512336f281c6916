"""Imports point down: adapters never reach a service, pure modules never reach I/O.

Read from the source (no import side effects), so a new upward import fails here with
the file and the module it took.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
KIBBLE = SRC / "kibble"

ADAPTERS = ("store", "artifacts")
"""Packages that touch the world; they may use each other, core, errors and config."""
ADAPTER_MAY_IMPORT = ("kibble.store", "kibble.artifacts", "kibble.core", "kibble.errors")
ADAPTER_MAY_IMPORT += ("kibble.config",)

PURE = (
    "kibble.monitoring.drift",
    "kibble.monitoring.points",
    "kibble.monitoring.rules",
    "kibble.monitoring.feedback_loop",
    "kibble.monitoring.narrowing",
    "kibble.checks.stats",
    "kibble.rollouts.analysis",
    "kibble.rollouts.controller",
    "kibble.serving.routing",
)
"""Statistics and decisions with no I/O: they import only each other and errors/core."""


def kibble_imports(path: Path) -> set[str]:
    """Every ``kibble...`` module a file imports, at any depth (lazy imports included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("kibble")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kibble"):
            found.add(str(node.module))
    return found


def module_path(module: str) -> Path:
    return SRC / (module.replace(".", "/") + ".py")


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("package", ADAPTERS)
def test_adapters_import_no_service(package: str) -> None:
    upward = {
        f"{path.relative_to(SRC)} imports {module}"
        for path in sorted((KIBBLE / package).rglob("*.py"))
        for module in kibble_imports(path)
        if not under(module, ADAPTER_MAY_IMPORT)
    }
    assert not upward, "adapters must not import services:\n" + "\n".join(sorted(upward))


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_only_pure_modules(module: str) -> None:
    allowed = (*PURE, "kibble.errors", "kibble.core")
    taken = {m for m in kibble_imports(module_path(module)) if not under(m, allowed)}
    assert not taken, f"{module} is pure but imports {sorted(taken)}"


def test_serving_does_not_import_the_rollout_controller() -> None:
    """Serving is configured with ``Guardrails`` (``serving.routing``); the controller that
    judges by them lives above it."""
    upward = {
        str(path.relative_to(SRC))
        for path in sorted((KIBBLE / "serving").rglob("*.py"))
        if "kibble.rollouts.controller" in kibble_imports(path)
    }
    assert not upward, f"serving imports kibble.rollouts.controller in {sorted(upward)}"


def test_the_scan_sees_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from kibble.monitoring.points import Point\n")
    assert kibble_imports(bad) == {"kibble.monitoring.points"}
    assert not under("kibble.monitoring.points", ADAPTER_MAY_IMPORT)
