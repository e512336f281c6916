"""What code and environment a run used: git commit, dirty flag, package versions."""

from __future__ import annotations

import platform
import subprocess
import sys
from functools import lru_cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("kibble", "numpy", "pyarrow", "polars", "scikit-learn", "implicit", "sqlalchemy")


@lru_cache(maxsize=16)
def git_version(folder: str) -> dict[str, Any]:
    """Commit and dirty flag of the repository holding ``folder``; empty outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=5
        )
        if commit.returncode != 0:
            return {}
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {"git_commit": commit.stdout.strip(), "git_dirty": bool(status.stdout.strip())}


def code_version(module_file: str | None, step_hashes: dict[str, str]) -> dict[str, Any]:
    folder = str(Path(module_file).resolve().parent) if module_file else str(Path.cwd())
    return {**git_version(folder), "steps": step_hashes}


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    packages: dict[str, str] = {}
    for name in PACKAGES:
        try:
            packages[name] = version(name)
        except PackageNotFoundError:
            continue
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": packages,
    }
