"""A real local Ray cluster (``ray start --head`` on 127.0.0.1), shared by the Ray tests.

A separate head process, not ``ray.init()`` in the test process: CLI tests run kibble in
a subprocess, and both they and in-process tests connect to it by address, the way a
driver reaches a KubeRay head. Started once per session (start-up takes seconds).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[1]


class RayServer:
    def __init__(self, num_cpus: int = 2) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.num_cpus = num_cpus
        self._temp = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> RayServer:
        self._temp = tempfile.mkdtemp(prefix="kray")
        env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0"}
        ray_bin = str(Path(sys.executable).parent / "ray")
        self._process = subprocess.Popen(
            [
                ray_bin,
                "start",
                "--head",
                "--block",
                "--node-ip-address",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--num-cpus",
                str(self.num_cpus),
                "--include-dashboard",
                "false",
                "--temp-dir",
                self._temp,
                "--disable-usage-stats",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self._process.poll() is not None:
                raise RuntimeError("ray start exited early")
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the Ray head did not come up in {timeout:.0f} s")

    def stop(self) -> None:
        if self._process is not None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait(timeout=10)
            self._process = None
        shutil.rmtree(self._temp, ignore_errors=True)
