"""A job's processes end with their worker (Linux): each child asks the kernel for
SIGTERM when its parent dies, so no job runs on, unwatched, after its worker is gone;
the SIGTERM makes it checkpoint, and the next worker requeues it from there."""

from __future__ import annotations

import ctypes
import os
import signal

from aetui.worker.exits import EXIT_STOPPED

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In a child, before exec. `parent`: the worker's pid, read before the fork: if the
    worker died before the request was made, the child exits at once."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not Linux: the worker's own stop handling still stops its children
        pass
    if os.getppid() != parent:
        os._exit(EXIT_STOPPED)
