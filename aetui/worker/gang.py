"""A job on several devices: one process per device (a gang), started, watched and
ended together by the worker (`supervisor.Worker`); to the worker it is one child,
polled like a `subprocess.Popen` (the handle interface of `aetui.worker.executors`).

- Launch: the worker claims a job that needs N devices and gets N free ones
  (`store.queue.claim`, `assigned_device` = "cuda:0,cuda:1,..."). Rank r is the usual
  child process (`aetui.worker.child`) with AETUI_RANK=r, AETUI_WORLD_SIZE=N and
  AETUI_MASTER_PORT (a free local port) in its environment. Every rank sees the job's
  GPUs (CUDA_VISIBLE_DEVICES = their N physical indices) and uses cuda:r; on CPU slots
  (`aetui worker --devices cpu:0,cpu:1`) every rank uses the CPU.
  `aetui.experiments.distributed` makes them one torch.distributed group.
- Rank 0 is the job as the store knows it: it runs `execute` (lease checks, progress,
  outcome; TensorBoard, checkpoints). The other ranks run `follow`, which writes nothing
  to the store. Rank 0 logs to stdout.log/stderr.log, rank r to stdout.rank<r>.log/...
- One POSIX process group: rank 0 leads it, the other ranks join it, so one killpg ends
  every process of the job, children included. Rank 0 is not reaped before that (its
  pid, the group's id, cannot be reused meanwhile).
- Watching (`Gang.poll`, every worker loop): once any rank has ended, unless it is a
  follower that finished (EXIT_DONE), the ranks still running get SIGTERM (each
  checkpoints if it can, but a peer's collective ops may never return) and, `grace_s`
  later, the whole group gets SIGKILL. So no rank outlives the job holding a GPU.
- Outcome: a gang that broke (a rank crashed or was killed, or the ranks had to be
  killed) is requeued to resume from its checkpoint on as many devices
  (`crash_verdict`): at most MAX_REQUEUES times in a row from the same checkpoint step,
  after which the job fails with the reason, so a deterministic crash ends.
- A worker that dies takes its ranks along: each gets SIGTERM (PDEATHSIG), they agree
  to stop at the same step, rank 0 checkpoints and requeues the job.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from aetui.experiments.context import JobContext
from aetui.run_layout import RunLayout
from aetui.worker.execute import EXIT_DONE, EXIT_FAILED, EXIT_STOPPED, child_command, child_env
from aetui.worker.lifeline import die_with_parent
from store.states import AttemptOutcome, JobStatus

MAX_REQUEUES = 3
BROKEN = "device group broke"  # how the errors of its automatic requeues begin


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_preexec(parent: int, leader: int | None) -> Callable[[], None]:
    """In a rank before exec: SIGTERM when the worker dies (Linux), and the job's process
    group: its own for rank 0, rank 0's for the others."""

    def setup() -> None:
        die_with_parent(parent)
        if leader is None:
            os.setpgrp()
        else:
            os.setpgid(0, leader)

    return setup


def start_gang(worker, job_id: int, devices: list[str]) -> "Gang":
    """Start one process per device for a claimed job (see the module docstring)."""
    from aetui.experiments.distributed import PORT_ENV, RANK_ENV, WORLD_ENV
    from aetui.worker.devices import physical_index
    from store import queries, queue

    from aetui.run_owner import job_run_dir

    run = RunLayout.at(job_run_dir(worker.home, job_id))  # the supervisor checked it is this job's
    indices = [physical_index(d) for d in devices]
    cuda = all(i is not None for i in indices)
    env = child_env(worker.home)
    env.update({"CUDA_VISIBLE_DEVICES": ",".join(indices) if cuda else "", "PYTHONUNBUFFERED": "1",
                WORLD_ENV: str(len(devices)), PORT_ENV: str(free_port())})
    gang = Gang(job_id, worker.grace_s)
    me = os.getpid()
    try:
        for rank in range(len(devices)):
            out_path, err_path = run.logs(rank)
            out, err = open(out_path, "ab"), open(err_path, "ab")
            gang.files += [out, err]
            leader = gang.procs[0].pid if gang.procs else None
            proc = subprocess.Popen(
                child_command(worker.home, job_id, worker.owner, f"cuda:{rank}" if cuda else "cpu"),
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, env={**env, RANK_ENV: str(rank)},
                preexec_fn=_rank_preexec(me, leader))
            gang.add(proc, Path(err.name))
    except (OSError, subprocess.SubprocessError) as e:  # e.g. rank 0 died before rank 1 could join it
        gang.start_error = f"could not start rank {len(gang.procs)}: {e}"
        gang.kill()
    if gang.procs:
        queue.record_pid(worker.home.db, job_id=job_id, owner=worker.owner, pid=gang.pid)
    pids = ", ".join(str(p.pid) for p in gang.procs)
    worker.log(f"job {job_id}: started on {','.join(devices)} ({len(devices)} processes, pids {pids})")
    return gang


class Gang:
    """The ranks of one job, as one Popen-like handle."""

    def __init__(self, job_id: int, grace_s: float):
        self.job_id, self.grace_s = job_id, grace_s
        self.procs: list[subprocess.Popen] = []
        self.errs: list[Path] = []
        self.files: list = []
        self.codes: list[int | None] = []
        self.first: tuple[int, int] | None = None  # (rank, code) of the first to end
        self.broken: tuple[int, int] | None = None  # (rank, code) of the first abnormal end
        self.term_at: float | None = None
        self.killed = False
        self.code: int | None = None
        self.start_error: str | None = None
        self.rusage: dict[int, Any] = {}  # pid -> its resource usage, from wait4 as each rank is reaped

    def add(self, proc: subprocess.Popen, err: Path) -> None:
        self.procs.append(proc)
        self.errs.append(err)
        self.codes.append(None)

    @property
    def pid(self) -> int | None:
        return self.procs[0].pid if self.procs else None

    def _ended(self, rank: int) -> int | None:
        """A rank's exit code (negative: the signal) once it ended. Rank 0 is only looked
        at (waitid WNOWAIT), not reaped, while others may still need the group's id."""
        proc = self.procs[rank]
        if rank:
            return self._reap(proc, block=False)
        if proc.returncode is not None:
            return proc.returncode
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return proc.poll()
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def poll(self) -> int | None:
        if self.code is not None:
            return self.code
        for rank, code in enumerate(self.codes):
            if code is None:
                code = self.codes[rank] = self._ended(rank)
                if code is None:
                    continue
                self.first = self.first or (rank, code)
                if self.broken is None and code not in (EXIT_DONE, EXIT_STOPPED) and not self.killed:
                    self.broken = (rank, code)
        running = [r for r, c in enumerate(self.codes) if c is None]
        if not running:
            return self._finish()
        if self.start_error or any(
                c is not None and (r == 0 or c != EXIT_DONE) for r, c in enumerate(self.codes)):
            if self.term_at is None:
                self.term_at = time.time()
                for r in running:
                    _signal(self.procs[r].pid, signal.SIGTERM)
            elif time.time() - self.term_at > self.grace_s and not self.killed:
                self.kill()
        return None

    def _finish(self) -> int:
        """Every rank ended: end what is left of the group (children of the ranks), reap."""
        if self.procs:
            _killpg(self.procs[0].pid)
            for proc in self.procs:
                self._reap(proc, block=True)
        for f in self.files:
            f.close()
        if self.start_error:
            self.broken = self.broken or (len(self.procs), EXIT_FAILED)
            self.code = EXIT_FAILED
        else:
            self.code = self.broken[1] if self.broken else self.codes[0]
        return self.code

    def _reap(self, proc: subprocess.Popen, *, block: bool) -> int | None:
        """A rank's exit code once it ended, reaped with wait4 to keep its CPU time (the
        job's usage: `aetui.worker.usage`); None while it runs."""
        if proc.returncode is not None:
            return proc.returncode
        try:
            pid, status, rusage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere already
            return proc.wait() if block else proc.poll()
        if pid == 0:
            return None
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.rusage[proc.pid] = rusage
        return proc.returncode

    def terminate(self) -> None:
        """Ask every rank to checkpoint and stop (a cancel, or the worker stopping)."""
        for r, proc in enumerate(self.procs):
            if self.codes[r] is None:
                _signal(proc.pid, signal.SIGTERM)

    def kill(self) -> None:
        self.killed = True
        if self.procs and self.code is None:
            _killpg(self.procs[0].pid)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.time() + timeout
        while self.poll() is None:
            if deadline is not None and time.time() > deadline:
                raise subprocess.TimeoutExpired("gang", timeout)
            time.sleep(0.05)
        return self.code

    def describe(self) -> str:
        """Which rank ended how, and the end of its stderr."""
        if self.start_error:
            return self.start_error
        rank, code = self.broken or self.first or (0, self.code or 0)
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        text = ""
        try:
            lines = self.errs[rank].read_text(errors="replace").strip().splitlines()
            text = " | ".join(lines[-3:])[-600:]
        except (OSError, IndexError):
            pass
        return f"rank {rank} of {len(self.procs)} (pid {self.procs[rank].pid}) {how}" + (f"; {text}" if text else "")


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def crash_verdict(db, job_id: int, why: str) -> tuple[str, str]:
    """How a job whose gang broke ends this attempt: ("queued", reason) to resume from its
    checkpoint, or ("failed", reason) after MAX_REQUEUES automatic requeues in a row from
    the same checkpoint step (the crash is deterministic)."""
    from store import queries

    attempts = queries.attempts(db, job_id)
    current = attempts[-1] if attempts else None
    streak = 1
    for a in reversed(attempts[:-1]):
        if (a.outcome != AttemptOutcome.REQUEUED or not (a.error or "").startswith(BROKEN)
                or current is None or a.start_step != current.start_step):
            break
        streak += 1
    step = current.start_step if current else 0
    if streak > MAX_REQUEUES:
        return JobStatus.FAILED, (f"{BROKEN} {streak} times in a row from step {step}, not requeued again: {why} "
                          f"(`aetui retry` tries once more)")
    return JobStatus.QUEUED, f"{BROKEN}: {why}; requeued ({streak} of {MAX_REQUEUES}) to resume from its checkpoint"


def follow(home, job_id: int, *, owner: str, device: str, should_stop: Callable[[], bool]) -> int:
    """Run rank r > 0 of a job: the same runner as rank 0, writing nothing to the store
    (rank 0 and the worker record the job); returns an EXIT_* code."""
    import sys
    import traceback

    from aetui.experiments import runner
    from aetui.experiments.context import LeaseLost, RetryJob, StopRequested
    from aetui.specs import parse_spec
    from store import queries

    job = queries.get_job(home.db, job_id)
    if job.status != JobStatus.RUNNING or job.lease_owner != owner:
        print(f"aetui: job {job_id} is {job.status} and not held by {owner}; not running it", file=sys.stderr)
        return EXIT_STOPPED
    from aetui.run_owner import resolve

    run = queries.get_run(home.db, job_id)
    ctx = FollowerContext(home=home, job_id=job_id, run_dir=resolve(home.path, run.run_dir), device=device,
                          should_stop=should_stop, owner=owner, job_uid=job.uid)
    try:
        runner(job.kind)(parse_spec(job.kind, job.spec), ctx)
    except (StopRequested, RetryJob, LeaseLost) as e:
        print(f"aetui: {e}; stopping", file=sys.stderr)
        return EXIT_STOPPED
    except Exception:  # rank 0 records the job's failure; this log says what this rank saw
        traceback.print_exc()
        return EXIT_FAILED
    return EXIT_DONE


class FollowerContext(JobContext):
    """A rank's context that writes nothing to the store: rank 0 reports for the job."""

    def started(self, step: int) -> None:
        self.start_step = step

    def progress(self, step, total, *, loss=None, images_per_s=None, force=False) -> None:
        pass

    def phase(self, what, done=None, total=None) -> None:
        pass

    def record(self, *, metrics=None, artifacts=None, results=None) -> None:
        pass
