"""Which workers run on this host for a home: one file per worker in `<home>/workers/`.

A file whose process is gone is stale and ignored (and removed). `worker --detach`
refuses to start a second detached worker for the same home.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from aetui.home import Home


def _dir(home: Home) -> Path:
    return home.path / "workers"


def pid_alive(pid: int) -> bool:
    """Whether a process of this host exists (a PermissionError means it does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_workers(home: Home) -> list[dict]:
    """The live workers of this home on this host."""
    found = []
    folder = _dir(home)
    if not folder.is_dir():
        return found
    for path in folder.glob("*.json"):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if pid_alive(int(info.get("pid", -1))):
            found.append(info)
        else:
            path.unlink(missing_ok=True)
    return found


def take_detached_lock(home: Home) -> int | None:
    """An open descriptor holding this home's background-worker lock, or None when a
    background worker holds it already. The lock lasts while any process keeps the
    descriptor open: `worker --detach` passes it to the background worker, so two
    started at the same moment cannot both run."""
    import fcntl

    folder = _dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / "detached.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def register(home: Home, *, pid: int, devices: list[str], detached: bool) -> Path:
    """Record a worker process (atomically: a reader never sees half a file). `worker
    --detach` records its background worker before it returns, so that a command right
    after it sees the worker; the worker records itself again once it runs."""
    folder = _dir(home)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pid}.json"
    tmp = folder / f".{pid}.json.tmp"
    tmp.write_text(json.dumps({"pid": pid, "devices": devices, "detached": detached, "started_at": time.time()}))
    os.replace(tmp, path)
    return path


@contextmanager
def registered(home: Home, *, devices: list[str], detached: bool) -> Iterator[None]:
    path = register(home, pid=os.getpid(), devices=devices, detached=detached)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def stop_background(home: Home) -> list[int]:
    """Ask this home's background workers (`worker --detach`) to stop: SIGTERM, on which a
    worker has its jobs checkpoint and requeue, then exits. Returns the pids signalled
    (none: no background worker runs). It does not wait for them to end."""
    import signal

    stopped = []
    for info in running_workers(home):
        if not info.get("detached"):
            continue  # a worker in a terminal is stopped there (Ctrl-C)
        try:
            os.kill(int(info["pid"]), signal.SIGTERM)
        except ProcessLookupError:
            continue  # it ended meanwhile
        stopped.append(int(info["pid"]))
    return stopped


def jobs_running_on(home: Home, pids: list[int]) -> list:
    """The running jobs whose lease these worker processes (of this host) hold: what
    stopping them requeues."""
    from aetui.worker.execute import owner_id
    from store.queries import list_jobs
    from store.states import JobStatus

    owners = {owner_id(pid) for pid in pids}
    return [j for j in list_jobs(home.db, status=JobStatus.RUNNING) if j.lease_owner in owners]
