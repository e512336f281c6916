"""Every `kibble ...` command shown in README.md and docs/ must parse, so docs cannot rot.

Each command line found in a fenced shell block (or in inline code) is run as
``kibble <args> --help``: an unknown command or option fails, `--help` keeps it harmless.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kibble.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(?:bash|sh|console|shell)\n(.*?)```", re.S)
INLINE = re.compile(r"`(kibble [^`]+)`")


def commands(text: str) -> list[str]:
    found = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith("kibble "):
                found.append(line)
    found += INLINE.findall(text)
    return found


def argv(command: str) -> list[str]:
    words = shlex.split(command, comments=True)[1:]
    return [w for w in words if w != "--help"] + ["--help"]


CASES = [(doc.name, cmd) for doc in DOCS for cmd in commands(doc.read_text())]


def test_docs_exist_and_show_commands() -> None:
    names = {doc.name for doc in DOCS}
    assert {"README.md", "data-scientist.md", "data-engineer.md", "ml-engineer.md"} <= names
    assert "operator.md" in names
    assert len(CASES) > 40
    readme = (ROOT / "README.md").read_text()
    quick = FENCE.findall(readme.split("## Quick start", 1)[1])[0].split()
    assert quick == ["make", "demo", "make", "test"]


@pytest.mark.parametrize(("doc", "command"), CASES)
def test_documented_command_parses(doc: str, command: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--home", str(tmp_path), *argv(command)])
    assert result.exit_code == 0, f"{doc}: `{command}` does not parse:\n{result.output}"
    assert "Usage" in result.output


def test_the_check_catches_a_rotten_command(tmp_path: Path) -> None:
    for rotten in ("kibble k9s simulate --no-such-flag", "kibble no-such-command"):
        result = CliRunner().invoke(app, ["--home", str(tmp_path), *argv(rotten)])
        assert result.exit_code != 0
