"""Prometheus' own linter over an exposition: `promtool check metrics` (the OS package
`prometheus`, installed by scripts/system-deps.sh)."""

from __future__ import annotations

import shutil
import subprocess


def promtool_problems(exposition: str) -> str:
    """What `promtool check metrics` says about ``exposition``; empty when it is clean."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/system-deps.sh"
    done = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    return (done.stdout + done.stderr).strip() if done.returncode else ""
