"""`src/kibble/k9s/` is a user's project: it imports kibble's public API and nothing else."""

from __future__ import annotations

import ast
from pathlib import Path

import kibble.k9s

PUBLIC = {"kibble", "kibble.steps", "kibble.client", "kibble.errors", "kibble.pipelines"}
PUBLIC |= {"kibble.config"}
K9S = Path(kibble.k9s.__file__).parent


def _kibble_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
    return [name for name in found if name == "kibble" or name.startswith("kibble.")]


def test_k9s_imports_only_the_public_api() -> None:
    files = sorted(K9S.glob("*.py"))
    assert len(files) > 5
    private = {
        f"{path.name}: {name}"
        for path in files
        for name in _kibble_imports(path)
        if name not in PUBLIC and not name.startswith("kibble.k9s")
    }
    assert not private, f"k9s reaches past the public API: {sorted(private)}"


def test_the_scan_sees_a_private_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("from kibble.store.models import Run\nimport kibble.errors\n")
    assert _kibble_imports(probe) == ["kibble.store.models", "kibble.errors"]
