"""Fault injection on the request path, for drills and simulated shops: a share of the
answers waits ``delay_ms`` before it is computed. Off unless an app is built with one.

The wait happens inside the measured span, so the request log, the latency metrics and
every monitor downstream see the slowdown as users would: measured, not written. It is
an ``asyncio`` wait, so concurrent requests are slowed together rather than queued.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from kibble.errors import UsageError


@dataclass
class Fault:
    """Slow ``share`` of the requests (spread evenly, deterministic) by ``delay_ms``."""

    delay_ms: float
    share: float = 1.0
    _seen: int = 0

    def __post_init__(self) -> None:
        if self.delay_ms < 0 or not 0 < self.share <= 1:
            raise UsageError(
                f"bad fault: delay {self.delay_ms} ms on a share of {self.share}",
                hint="give a delay >= 0 ms and a share in (0, 1]",
            )

    async def wait(self) -> None:
        self._seen += 1
        n = self._seen
        if math.floor(n * self.share) > math.floor((n - 1) * self.share):
            await asyncio.sleep(self.delay_ms / 1000.0)
