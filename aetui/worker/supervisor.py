"""The worker loop: claim a job for each free device, run it in a child process, keep
its lease alive, stop it when cancelled, and record how it ended.

A child's stdout and stderr go to `stdout.log` / `stderr.log` in its run folder. On
SIGTERM/SIGINT the worker asks its children to checkpoint and requeue, then exits.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from aetui.home import Home
from aetui.worker.devices import physical_index
from aetui.worker.execute import EXIT_DONE, EXIT_STOPPED, child_command, host_name, owner_id

HEARTBEAT_S = 5.0
CANCEL_GRACE_S = 20.0


@dataclass
class Child:
    job_id: int
    device: str
    proc: subprocess.Popen
    term_sent_at: float | None = None
    files: list = field(default_factory=list)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the worker dies (Linux), so no job runs
    on after its worker is gone and the job is requeued from its checkpoint."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    os.setpgrp()  # a Ctrl-C in the worker's terminal reaches the worker, which stops the child


class Worker:
    def __init__(self, home: Home, devices: list[str], *, until_empty: bool = False, poll_s: float = 1.0,
                 log: Callable[[str], None] = print):
        self.home, self.devices, self.until_empty, self.poll_s, self.log = home, devices, until_empty, poll_s, log
        self.owner = owner_id()
        self.host = host_name()
        self.children: dict[str, Child] = {}
        self.stopping = False
        self._last_heartbeat = 0.0

    def request_stop(self, *_args) -> None:
        self.stopping = True

    def run(self) -> int:
        from store import queue

        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        self.log(f"worker {self.owner} on {', '.join(self.devices)}; home {self.home.path}")
        while True:
            lost = queue.requeue_lost(self.home.db, host=self.host, is_alive=pid_alive)
            for job_id in lost:
                self.log(f"job {job_id}: its worker is gone; requeued")
            queue.fail_blocked(self.home.db)
            self._reap()
            if self.stopping:
                self._stop_children()
                return 0
            self._heartbeat()
            self._claim()
            if self.until_empty and not self.children and not self._work_left():
                self.log("queue empty; worker exits")
                return 0
            time.sleep(self.poll_s)

    def _work_left(self) -> bool:
        """Queued jobs that this worker could run, or running jobs of other workers it may
        have to take over if they die."""
        from store import queries

        counts = queries.count_jobs(self.home.db)
        if queries.is_paused(self.home.db):
            return counts.get("running", 0) > 0
        return counts.get("queued", 0) > 0 or counts.get("running", 0) > 0

    def _claim(self) -> None:
        from store import queue

        for device in self.devices:
            if device in self.children or self.stopping:
                continue
            job = queue.claim(self.home.db, worker=self.owner, host=self.host, pid=os.getpid(), device=device)
            if job is None:
                continue
            self._start(job.id, device)

    def _start(self, job_id: int, device: str) -> None:
        from store import queries

        run_dir = Path(queries.get_run(self.home.db, job_id).run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        index = physical_index(device)
        env["CUDA_VISIBLE_DEVICES"] = index if index is not None else ""
        env["PYTHONUNBUFFERED"] = "1"
        inner = "cuda:0" if index is not None else "cpu"
        out = open(run_dir / "stdout.log", "ab")
        err = open(run_dir / "stderr.log", "ab")
        proc = subprocess.Popen(child_command(self.home, job_id, self.owner, inner), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, env=env, preexec_fn=_die_with_parent)
        self.children[device] = Child(job_id, device, proc, files=[out, err])
        self.log(f"job {job_id}: started on {device} (pid {proc.pid})")

    def _heartbeat(self, force: bool = False) -> None:
        from store import queue

        now = time.monotonic()
        if not force and now - self._last_heartbeat < HEARTBEAT_S:
            return
        self._last_heartbeat = now
        ids = [c.job_id for c in self.children.values()]
        for job_id in queue.heartbeat(self.home.db, worker=self.owner, job_ids=ids):
            child = next(c for c in self.children.values() if c.job_id == job_id)
            if child.term_sent_at is None:
                self.log(f"job {job_id}: cancel requested; stopping it")
                self._terminate(child)
        for child in self.children.values():
            if child.term_sent_at is not None and time.time() - child.term_sent_at > CANCEL_GRACE_S:
                child.proc.kill()

    def _terminate(self, child: Child) -> None:
        child.term_sent_at = time.time()
        try:
            child.proc.terminate()
        except ProcessLookupError:
            pass

    def _reap(self) -> None:
        """Record the end of children that exited; the child records done/failed itself,
        this covers deaths it could not record (killed, crashed interpreter)."""
        from store import queries, queue

        for device, child in list(self.children.items()):
            code = child.proc.poll()
            if code is None:
                continue
            del self.children[device]
            for f in child.files:
                f.close()
            job = queries.get_job(self.home.db, child.job_id)
            if job.status == "running" and job.lease_owner == self.owner:
                if job.cancel_requested:
                    queue.finish(self.home.db, job_id=job.id, worker=self.owner, status="cancelled",
                                 error="cancelled by user")
                elif code == EXIT_STOPPED and self.stopping:
                    queue.finish(self.home.db, job_id=job.id, worker=self.owner, status="queued")
                else:
                    why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
                    queue.finish(self.home.db, job_id=job.id, worker=self.owner, status="failed",
                                 error=f"job process ended without a result ({why}); {_tail(child)}")
                job = queries.get_job(self.home.db, child.job_id)
            verb = {EXIT_DONE: "finished"}.get(code, "ended")
            self.log(f"job {job.id}: {verb} -> {job.status}" + (f" ({job.error})" if job.error else ""))

    def _stop_children(self) -> None:
        """Ask every child to checkpoint and requeue; wait (then kill) and record it."""
        from store import queries, queue

        for child in self.children.values():
            self.log(f"job {child.job_id}: worker stopping; checkpointing and requeueing")
            self._terminate(child)
        deadline = time.time() + CANCEL_GRACE_S
        while self.children and time.time() < deadline:
            self._reap()
            time.sleep(0.2)
        for device, child in list(self.children.items()):
            child.proc.kill()
            child.proc.wait()
            job = queries.get_job(self.home.db, child.job_id)
            if job.status == "running":
                queue.finish(self.home.db, job_id=job.id, worker=self.owner, status="queued")
            del self.children[device]


def _tail(child: Child, lines: int = 3) -> str:
    path = Path(child.files[1].name)
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-600:]
