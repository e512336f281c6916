"""The README tour and every guide run as written, in order, in a fresh folder.

Each document's fenced shell blocks run top to bottom in one fresh working folder (no
``KIBBLE_*`` settings, so the default home ``./.kibble`` is used, as a reader's would):
``kibble ...`` lines run as real subprocesses of this interpreter (``PYTHONPATH``
honoured), ``export NAME=VALUE`` lines set the environment of the lines after them and
``NAME=VALUE kibble ...`` that of one command.
Other programs (``make``, ``docker``, ``kubectl``, ``python bench/...``) are not run:
they build images, clusters or a second virtualenv, which a test must not.

Placeholders in capitals are ids a reader looks up first; the test looks them up with
the listing command the guide names (see ``LOOKUPS``), so the ids are real.

Conventions in the Markdown (invisible when rendered, except the comment):

- ``# exits N`` at the end of a command: it is expected to exit N (a gate that fails on
  purpose); its error must still be one line.
- ``<!-- tour: file NAME -->`` before a ``python`` block: the reader saves it as NAME
  (the guide says so in words) before the commands after it.
- ``<!-- tour: skip REASON -->`` before a shell block: not run (a server that runs until
  stopped, a PostgreSQL, S3 or Ray address the reader must supply). Keep these few: a
  block that can run, must.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"(<!-- tour: (?:skip|file) [^>]+-->\s*)?```(bash|sh|console|shell|python)\n(.*?)```", re.S
)
SKIP = re.compile(r"<!-- tour: skip (\S[^>]*\S)\s*-->")
FILE = re.compile(r"<!-- tour: file (\S+)\s*-->")
EXITS = re.compile(r"#\s*exits (\d+)")
LOOKUPS: dict[str, tuple[list[str], str]] = {
    # placeholder: (the listing a reader runs, the JSON key of the first row's id)
    "REQUEST_ID": (["requests", "list", "--limit", "1"], "request_id"),
    "RUN_ID": (["runs", "list", "--status", "held"], "run_id"),
    "RUN_A": (["runs", "list"], "run_id"),
    "RUN_B": (["runs", "list"], "run_id"),
    "EVALUATION_RUN": (["runs", "list", "--kind", "evaluation"], "run_id"),
    "TRAINING_RUN": (["runs", "list", "--kind", "training"], "run_id"),
    "ALERT_ID": (["alerts", "list", "--all"], "id"),
    "sha256:DIGEST": (["artifacts", "list"], "digest"),
}


@dataclass
class Tour:
    doc: str
    lines: list[tuple[int, str]] = field(default_factory=list)  # (block number, line)
    files: dict[int, tuple[str, str]] = field(default_factory=dict)  # block: (name, text)
    skipped: list[str] = field(default_factory=list)  # the reasons given


def tours() -> list[Tour]:
    out = []
    for doc in DOCS:
        tour = Tour(doc.name)
        for number, match in enumerate(BLOCK.finditer(doc.read_text()), 1):
            mark, language, body = match.groups()
            if language == "python":
                saved = FILE.search(mark or "")
                if saved:
                    tour.files[number] = (saved.group(1), body)
                    tour.lines.append((number, f"# save {saved.group(1)}"))
                continue
            if mark:
                reason = SKIP.search(mark)
                assert reason, f"{doc.name}: a tour skip must give its reason"
                tour.skipped.append(reason.group(1))
                continue
            for line in body.replace("\\\n", " ").splitlines():
                line = line.strip().removeprefix("$ ")
                if line and not line.startswith("#"):
                    tour.lines.append((number, line))
        out.append(tour)
    return out


TOURS = tours()


def test_every_guide_has_a_tour_and_skips_are_few() -> None:
    assert {t.doc for t in TOURS} >= {"README.md", "operator.md", "ml-engineer.md"}
    assert all(any(line.startswith("kibble ") for _, line in t.lines) for t in TOURS)
    assert sum(len(t.skipped) for t in TOURS) <= 12, [t.skipped for t in TOURS]


class Reader:
    """One reader in one fresh folder, running a guide's lines."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
        self.env["COLUMNS"] = "120"

    def kibble(
        self, args: list[str], scoped: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kibble", *args],
            cwd=self.folder,
            env={**self.env, **(scoped or {})},
            capture_output=True,
            text=True,
            timeout=600,  # generous: a loaded CI machine, not a speed check
        )

    def lookup(self, placeholder: str) -> str:
        args, key = LOOKUPS[placeholder]
        listed = self.kibble([*args, "--json"])
        assert listed.returncode == 0, listed.stderr
        rows: list[dict[str, Any]] = json.loads(listed.stdout)
        assert rows, f"`kibble {' '.join(args)}` lists nothing to take {placeholder} from"
        index = 1 if placeholder == "RUN_B" and len(rows) > 1 else 0
        return str(rows[index][key])

    def run(self, line: str) -> subprocess.CompletedProcess[str] | None:
        words = shlex.split(line, comments=True)
        if words and words[0] == "export":
            for word in words[1:]:
                name, _, value = word.partition("=")
                self.env[name] = value
            return None
        scoped = {}  # NAME=VALUE kibble ...: the variable for that command only
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            scoped[name] = value
        if not words or words[0] != "kibble":
            return None  # make, docker, kubectl, python bench/...: see the module docstring
        args = [self._fill(w) for w in words[1:]]
        return self.kibble(args, scoped)

    def _fill(self, word: str) -> str:
        for placeholder in LOOKUPS:
            if placeholder in word:
                word = word.replace(placeholder, self.lookup(placeholder))
        return word


def walk(tour: Tour, folder: Path) -> str | None:
    """Run one guide's lines in ``folder``; the first failure, said in full, or None."""
    folder.mkdir()
    reader = Reader(folder)
    for block, line in tour.lines:
        if line.startswith("# save ") and block in tour.files:
            name, text = tour.files[block]
            (folder / name).write_text(text)
            continue
        try:
            result = reader.run(line)
        except (AssertionError, subprocess.TimeoutExpired) as exc:
            return f"{tour.doc}, block {block}: `{line}`: {exc}"
        if result is None:
            continue
        expected = EXITS.search(line)
        code = int(expected.group(1)) if expected else 0
        errors = [e for e in result.stderr.splitlines() if e.strip()]
        if result.returncode != code or "Traceback" in result.stderr or (code and len(errors) != 1):
            return (
                f"{tour.doc}, block {block}: `{line}` exited {result.returncode}, not {code}"
                f" (a failure must be one line):\n{result.stderr[-2000:]}\n{result.stdout[-1000:]}"
            )
    return None


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_the_guides_run_as_written(tmp_path: Path) -> None:
    """Every guide at once (each in its own folder): the suite's two cores stay busy."""
    with ThreadPoolExecutor(len(TOURS)) as pool:
        failures = pool.map(lambda t: walk(t, tmp_path / t.doc.removesuffix(".md")), TOURS)
        failed = [f for f in failures if f]
    assert not failed, "\n\n".join(failed)
