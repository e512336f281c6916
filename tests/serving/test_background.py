"""The rollout controller's step runs in a worker process that is replaced when it dies."""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from kibble.context import Context
from kibble.rollouts import service
from kibble.serving.background import ControllerLoop
from kibble.serving.metrics import Metrics
from kibble.serving.state import ModelHolder
from tests.serving.helpers import three_versions


def test_steps_run_in_a_worker_that_is_replaced_when_it_dies(context: Context) -> None:
    three_versions(context)
    service.start(context, "default", "recs", None)
    holder = ModelHolder(context, "default", "recs")
    holder.refresh()
    loop = ControllerLoop(context, holder, Metrics(), interval_s=0)  # ticked by hand
    try:
        assert loop.tick() == "hold"  # no traffic yet: not enough samples to judge
        pool = loop._pool
        assert pool is not None
        (pid,) = pool._processes  # one worker, not this process
        assert pid != os.getpid()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            loop.tick()  # reported (logged by the loop) ...
        assert loop.tick() == "hold"  # ... and the next tick runs in a new worker
        assert loop._pool is not pool
        assert service.status(context, "default")["status"] == "active"
    finally:
        loop.stop()
