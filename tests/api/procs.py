"""Run the `kibble` command as a user would: a subprocess with a clean environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIBBLE_")}
    env.update(extra)
    return env


def kibble_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kibble", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env_for(home, **env),
        timeout=900,  # a bound on a hung command, not a speed check
    )
