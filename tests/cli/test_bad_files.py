"""Every command that reads a file answers a bad one in one line, with one exit code.

Each data-reading command is fed an empty, a binary, a truncated and a wrong-schema file:
the answer is exit 2 (bad input, see ``kibble.cli.main``) and a single ``error:`` line
naming the file, never a traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from kibble.cli.main import main

GOOD = pl.DataFrame(
    {
        "user_id": [str(u % 50) for u in range(2000)],
        "item_id": [str(u % 70) for u in range(2000)],
        "ts": [f"2026-11-{1 + u % 28:02d}T10:00:00" for u in range(2000)],
    }
)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 8)


def _truncated(path: Path) -> None:
    GOOD.write_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _wrong_schema(path: Path) -> None:
    pl.DataFrame({"a": [1, 2, 3]}).write_parquet(path)


BAD: dict[str, Callable[[Path], None]] = {
    "empty": _empty,
    "binary": _binary,
    "truncated": _truncated,
    "wrong-schema": _wrong_schema,
}
READERS: dict[str, list[str]] = {
    # command: its arguments, FILE standing for the bad file
    "ingest": ["ingest", "FILE", "--table", "events"],
    "recsys evaluate": ["recsys", "evaluate", "--interactions", "FILE"],
    "recsys train": ["recsys", "train", "--interactions", "FILE", "--model", "popularity"],
    "recsys tune": ["recsys", "tune", "--interactions", "FILE", "--model", "als", "--trials", "1"],
}
SHOP_READERS: dict[str, list[str]] = {
    # the simulator's commands read OUT/k9s.json
    "k9s deliver": ["k9s", "deliver", "--out", "OUT"],
    "k9s redeliver": ["k9s", "redeliver", "--out", "OUT", "--day", "2026-12-02"],
    "k9s config": ["k9s", "config", "--out", "OUT"],
}
SHOP_CONFIGS: dict[str, bytes] = {
    "empty": b"",
    "binary": bytes(range(256)),
    "truncated": b'{"products": 100, "users": 50, "da',
    "wrong-schema": json.dumps({"a": 1}).encode(),
}


def run(home: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(["--home", str(home), *args])
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    else:
        code = 0
    return code, capsys.readouterr().err


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("KIBBLE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "400")  # one line stays one line


def assert_one_line(code: int, err: str, name: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, f"exit {code}, not 2 (bad input):\n{err}"
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and name in lines[0], err


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("command", READERS)
def test_a_bad_data_file_is_one_line(
    command: str, bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / f"{bad}.parquet"
    BAD[bad](path)
    args = [str(path) if a == "FILE" else a for a in READERS[command]]
    code, err = run(tmp_path / "home", args, capsys)
    assert_one_line(code, err, "user_id" if bad == "wrong-schema" else path.name)


@pytest.mark.parametrize("bad", SHOP_CONFIGS)
@pytest.mark.parametrize("command", SHOP_READERS)
def test_a_bad_simulator_folder_is_one_line(
    command: str, bad: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "shop"
    out.mkdir()
    (out / "k9s.json").write_bytes(SHOP_CONFIGS[bad])
    args = [str(out) if a == "OUT" else a for a in SHOP_READERS[command]]
    code, err = run(tmp_path / "home", args, capsys)
    assert_one_line(code, err, "k9s.json")


def test_a_missing_file_is_the_same_kind_of_mistake_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    for args in READERS.values():
        code, err = run(
            tmp_path / "home", [str(missing) if a == "FILE" else a for a in args], capsys
        )
        assert_one_line(code, err, "nope.csv")
