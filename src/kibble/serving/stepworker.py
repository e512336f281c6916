"""What the rollout controller's worker process runs (see ``serving.background``).

Kept apart from the serving modules so the worker imports the store and the rollout
service only, not the models.
"""

from __future__ import annotations

import os
from typing import Any

from kibble.config import Settings
from kibble.context import Context
from kibble.errors import NotFoundError
from kibble.lifetime import exit_with_parent
from kibble.rollouts import service
from kibble.serving.routing import Guardrails

_context: Context | None = None  # this worker process's own store connection
NICE = 5  # like the log writer: the request loop gets the CPU first on a busy machine


def open_context(settings: Settings, project: str, actor: str) -> None:
    """The pool's initializer: one context per worker process."""
    global _context
    os.nice(NICE)
    exit_with_parent()
    _context = Context.open(settings, project=project, actor=actor)


def step(deployment: str, rails: Guardrails | None) -> dict[str, Any] | None:
    """One controller step; None when the rollout finished elsewhere."""
    assert _context is not None, "open_context runs first"
    try:
        return service.step(_context, deployment, rails)
    except NotFoundError:
        return None
