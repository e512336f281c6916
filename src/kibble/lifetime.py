"""Child processes end with their parent, even when the parent dies by ``kill -9``.

A pool worker holds both ends of its task queue, so it never sees EOF and would outlive
a killed runner or server: an orphan that finishes a step after the resumed run re-ran
it writes twice. ``exit_with_parent`` (a pool initializer) watches the parent's
sentinel, a pipe that closes when the parent exits however it exits, and ends this
process at once. It watches the parent process, not the thread that spawned it (which
is what Linux's PR_SET_PDEATHSIG would watch), so a pool grown from a short-lived
thread keeps its workers.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from multiprocessing.connection import wait


def exit_with_parent() -> None:
    """In a multiprocessing child: ``os._exit`` as soon as the parent process is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="kibble-exit-with-parent", daemon=True).start()
