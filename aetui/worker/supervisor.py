"""The worker loop: claim a job for each free device slot (`per_device` slots a device,
default 1), run it in a child process, keep its lease alive, stop it when cancelled
(SIGTERM, then SIGKILL after a grace period), and record how it ended.

A child's stdout and stderr go to `stdout.log` / `stderr.log` in its run folder. On
SIGTERM/SIGINT the worker asks its children to checkpoint and requeue, then exits.
Every loop first requeues the jobs of dead workers (`store.queue.requeue_lost`).

A job that needs several devices (`--gpus N`) runs as one process per device, started,
watched and ended together (`aetui.worker.gang`); which job starts next on which free
devices, without head-of-line blocking and without starving wide jobs, is
`aetui.worker.scheduling`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aetui.home import Home
from aetui.run_layout import RunLayout
from aetui.worker.defaults import CANCEL_GRACE_S, GRACE_ENV, HEARTBEAT_S, POLL_S, RESERVE_AFTER_S, STALL_S, STOP_POLL_S
from aetui.worker.devices import held_by_others, physical_index, pinned_visible
from aetui.worker.execute import EXIT_DONE, EXIT_HOST, child_command, child_env, host_name, owner_id
from aetui.worker.faults import start_fault
from aetui.worker.lifeline import die_with_parent
from aetui.worker.outcome import outcome
from aetui.worker.registry import pid_alive
from aetui.worker.scheduling import Policy, Scheduler, free_devices
from store.states import AttemptOutcome, JobStatus, NoticeEvent


@dataclass
class Child:
    job_id: int
    device: str
    proc: subprocess.Popen
    term_sent_at: float | None = None
    files: list = field(default_factory=list)
    # stall watch: what the job last wrote to the store (step, updated_at) and since when
    seen: tuple | None = None
    seen_at: float = field(default_factory=time.monotonic)
    stalled: str | None = None  # why the worker stopped it as stalled
    meter: Any = None  # its `aetui.worker.usage.UsageMeter` (local child processes)


def _child_preexec(parent: int) -> None:
    """In a job's child before exec: it ends with the worker, in a process group of its
    own (a Ctrl-C in the worker's terminal reaches the worker, which stops the child)."""
    die_with_parent(parent)
    os.setpgrp()


class Worker:
    # Where jobs run: None, a local child process each (`_start`); else an executor from
    # `aetui.worker.executors` (e.g. Slurm) whose `start` returns a Popen-like handle.
    executor = None

    def __init__(self, home: Home, devices: list[str], *, until_empty: bool = False, poll_s: float = POLL_S,
                 per_device: int = 1, grace_s: float = CANCEL_GRACE_S, log: Callable[[str], None] = print,
                 reserve_after_s: float = RESERVE_AFTER_S, stall_s: float = STALL_S, share: bool = False,
                 run_commands: bool = True):
        self.home, self.devices, self.until_empty, self.poll_s, self.log = home, devices, until_empty, poll_s, log
        self.scheduler = Scheduler(Policy(reserve_after_s=reserve_after_s))
        self.per_device, self.grace_s = max(1, per_device), grace_s
        self.stall_s = stall_s  # 0: never stop a job for reporting no progress
        self.share = share  # also use GPUs that other processes hold (`held_by_others`)
        self.run_commands = run_commands  # False on a shared store without `--allow-commands`
        self._held: set[str] = set()  # devices others held at the last look (logged when it changes)
        self.host_fault: str | None = None  # set once this host cannot run jobs: claim no more, then exit
        self.owner = owner_id()
        self.host = host_name()
        self.children: dict[int, Child] = {}  # by job id
        self.stopping = False
        self._last_heartbeat = self._last_stall_check = 0.0

    def _skipped(self) -> dict[str, str]:
        """The job kinds this worker neither claims nor waits for, each with why (one line)."""
        skipped = dict(getattr(self.executor, "skips", {}))  # kinds its executor cannot run
        if not self.run_commands:
            skipped.setdefault("command", "command jobs are left to other workers: a shared store runs them only "
                                          "with --allow-commands")
        return skipped

    @property
    def skip_kinds(self) -> tuple[str, ...]:
        return tuple(self._skipped())

    def request_stop(self, *_args) -> None:
        self.stopping = True

    def run(self) -> int:
        """Work until stopped (or, `until_empty`, out of work); the exit code. The SIGTERM and
        SIGINT handlers it installs (stop requests) are the previous ones again when it returns."""
        from aetui.notify.sender import start_for_worker

        previous = {sig: signal.signal(sig, self.request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        # job endings go out as notifications from a thread beside this loop, never in it
        sender = start_for_worker(self.home, self.log)
        try:
            return self._loop()
        finally:
            if sender is not None:
                sender.stop()  # one last pass: the last jobs' messages go out before the worker exits
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _loop(self) -> int:
        from store import queries, queue

        slots = f" ({self.per_device} jobs each)" if self.per_device > 1 else ""
        self.log(f"worker {self.owner} on {', '.join(self.devices)}{slots}; home {self.home.path}")
        for why in self._skipped().values():
            self.log(why)
        while True:
            lost = queue.requeue_lost(self.home.db, host=self.host, is_alive=pid_alive)
            for job_id in lost:  # requeued, or cancelled when its cancel was asked
                status = queries.get_job(self.home.db, job_id).status
                self.log(f"job {job_id}: its worker is gone; " + (f"{AttemptOutcome.REQUEUED}"
                                                                   if status == JobStatus.QUEUED
                                                                   else f"{status} (as asked)"))
            for job_id in queue.fail_blocked(self.home.db):
                self.log(f"job {job_id}: the job it waits for (--after) failed; failed too")
            self._reap()
            if self.stopping:
                self._stop_children()
                return 0
            self._heartbeat()
            self._claim()
            if self.host_fault is not None and not self.children:
                self.log(f"stopping: {self.host_fault}; its jobs stay queued for other workers")
                return EXIT_HOST
            if self.until_empty and not self.children and not self._work_left():
                self.log("queue empty; worker exits")
                return 0
            time.sleep(self.poll_s)

    def _work_left(self) -> bool:
        """Running jobs of other workers (this worker takes them over if they die, so it
        waits for them), or queued jobs this worker could run now or once the jobs they
        wait for are done. Jobs pinned to devices it does not have are left to others."""
        from store import queries

        counts = queries.count_jobs(self.home.db)
        if counts.get(JobStatus.RUNNING, 0):
            return True
        if queries.is_paused(self.home.db):
            return False
        return queries.runnable_count(self.home.db, devices=self.devices, skip_kinds=self.skip_kinds) > 0

    def _claim(self) -> None:
        """Start jobs on the free device slots, one device or several each (the order and
        the rule against starving wide jobs: `aetui.worker.scheduling`)."""
        while not self.stopping and self.host_fault is None:
            free = self.free()
            job = self.scheduler.claim(self.home.db, free=free, total=len(self.devices), worker=self.owner,
                                       host=self.host, pid=os.getpid(), skip_kinds=self.skip_kinds)
            if job is None:
                break
            self._start(job.id, job.assigned_device, job.kind)

    def free(self) -> list[str]:
        """The devices with a free slot, less those that other processes hold (a colleague's
        run on a shared GPU box; NVML says so) unless this worker shares (`--share`)."""
        free = free_devices(self.devices, self._busy, self.per_device)
        if self.share:
            return free
        held = held_by_others(free, {c.proc.pid for c in self.children.values() if c.proc.pid})
        if held != self._held:
            self._held = held
            if held:
                self.log(f"{', '.join(sorted(held))}: held by processes that are not this worker's; "
                         "not used (`aetui worker --share` uses them too)")
        return [d for d in free if d not in held]

    def _busy(self, device: str) -> int:
        return sum(1 for c in self.children.values() if device in c.device.split(","))

    def _start(self, job_id: int, device: str, kind: str = "") -> None:
        from aetui.run_owner import NotOurs, job_run_dir, resolve
        from store import queue

        try:
            run_dir = job_run_dir(self.home, job_id)
        except NotOurs as e:  # another job's files: fail this job, write nothing there
            queue.finish(self.home.db, job_id=job_id, worker=self.owner, status=JobStatus.FAILED, error=str(e))
            self.log(f"job {job_id}: failed: {e}")
            return
        except OSError as e:  # the run folder cannot be made: this host's fault, or the job's
            from store import queries

            self._cannot_start(job_id, resolve(self.home.path, queries.get_run(self.home.db, job_id).run_dir), e)
            return
        if self.executor is not None:  # the job runs elsewhere (Slurm); its handle acts as the Popen
            handle = self.executor.start(self, job_id, device)
            self.children[job_id] = Child(job_id, device, handle)
            self.log(f"job {job_id}: submitted to {self.executor.name} ({handle.describe()})")
            return
        if "," in device and kind != "command":  # several devices: one process each, watched as one (its logs are its own)
            from aetui.worker.gang import start_gang
            from aetui.worker.usage import UsageMeter

            gang = start_gang(self, job_id, device.split(","))
            meter = UsageMeter([p.pid for p in gang.procs], device.split(","), alone=self.per_device == 1)
            self.children[job_id] = Child(job_id, device, gang, meter=meter)
            return
        run = RunLayout.at(run_dir)
        try:
            out = open(run.stdout, "ab")
        except OSError as e:  # this host's fault, or the job's
            self._cannot_start(job_id, run.root, e)
            return
        env = dict(os.environ)
        index = physical_index(device.split(",")[0])
        env["CUDA_VISIBLE_DEVICES"] = index if index is not None else ""
        if kind == "command":  # one process that sees all its devices, pinned (`aetui.worker.command`)
            env["CUDA_VISIBLE_DEVICES"] = pinned_visible(device.split(","))
            env[GRACE_ENV] = repr(self.grace_s)
        env["PYTHONUNBUFFERED"] = "1"
        inner = "cuda:0" if index is not None else "cpu"
        err = open(run.stderr, "ab")
        me = os.getpid()
        proc = subprocess.Popen(child_command(self.home, job_id, self.owner, inner), stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, env=env, preexec_fn=lambda: _child_preexec(me))
        from aetui.worker.usage import UsageMeter

        meter = UsageMeter(proc.pid, device.split(","), alone=self.per_device == 1)
        self.children[job_id] = Child(job_id, device, proc, files=[out, err], meter=meter)
        queue.record_pid(self.home.db, job_id=job_id, owner=self.owner, pid=proc.pid)
        self.log(f"job {job_id}: started on {device} (pid {proc.pid})")

    def _cannot_start(self, job_id: int, folder: Path, error: OSError) -> None:
        """The job's run folder cannot be made: fail the job (its fault), or requeue it and
        claim no more (this host's fault: `aetui.worker.faults`)."""
        from store import queue

        fault = start_fault(folder, error, self.home.runs)
        status = JobStatus.QUEUED if fault.host else JobStatus.FAILED
        queue.finish(self.home.db, job_id=job_id, worker=self.owner, status=status, error=fault.reason)
        if fault.host:
            self.host_fault = fault.reason
            self.log(f"job {job_id}: not started, back in the queue: {fault.reason}")
        else:
            self.log(f"job {job_id}: failed: {fault.reason}")

    def _heartbeat(self, force: bool = False) -> None:
        """Renew the leases every HEARTBEAT_S; every loop, stop the jobs whose cancel was
        asked and kill those that did not stop within the grace period."""
        from store import queries, queue

        ids = list(self.children)
        now = time.monotonic()
        for child in self.children.values():
            if child.meter is not None:
                child.meter.sample()
        if force or now - self._last_heartbeat >= HEARTBEAT_S:
            self._last_heartbeat = now
            cancels = queue.heartbeat(self.home.db, worker=self.owner, job_ids=ids)
            self._record_usage()
        else:
            cancels = queries.cancel_requested(self.home.db, ids)
        self._watch_stalls()
        for job_id in cancels:
            child = self.children[job_id]
            if child.term_sent_at is None:
                self.log(f"job {job_id}: cancel requested; stopping it")
                self._terminate(child)
        for child in self.children.values():
            if child.term_sent_at is not None and time.time() - child.term_sent_at > self.grace_s:
                if child.proc.poll() is None:
                    self.log(f"job {child.job_id}: still running {self.grace_s:g} s after SIGTERM; killing it")
                child.proc.kill()

    def _watch_stalls(self) -> None:
        """Stop (SIGTERM, then SIGKILL after the grace period) a job that wrote nothing to
        the store (progress, results) for `stall_s`: a deadlock, a stuck collective, a
        frozen file system. The lease alone would keep it `running` for ever."""
        from store import queries

        if not self.stall_s or self.executor is not None:  # a Slurm job is Slurm's to watch
            return
        now = time.monotonic()
        if now - self._last_stall_check < min(HEARTBEAT_S, self.stall_s / 4):
            return
        self._last_stall_check = now
        for child in self.children.values():
            if child.term_sent_at is not None:
                continue
            job = queries.get_job(self.home.db, child.job_id)
            seen = (job.step, job.updated_at)
            if seen != child.seen:
                child.seen, child.seen_at = seen, now
            elif now - child.seen_at >= self.stall_s:
                child.stalled = f"stalled: no progress for {self.stall_s:g} s after step {job.step}"
                self.log(f"job {child.job_id}: {child.stalled}; stopping it")
                self._terminate(child)

    def _terminate(self, child: Child) -> None:
        child.term_sent_at = time.time()
        try:
            child.proc.terminate()
        except ProcessLookupError:
            pass

    def _record_usage(self, children=None) -> None:
        """Store what the running jobs used so far (the run view and `aetui show` show it live)."""
        from store import queue

        for child in children if children is not None else self.children.values():
            if child.meter is not None and (usage := child.meter.usage()):
                try:
                    queue.record_usage(self.home.db, job_id=child.job_id, worker=self.owner, usage=usage)
                except Exception as e:  # a busy store: the next heartbeat writes it again
                    self.log(f"job {child.job_id}: usage not recorded ({type(e).__name__})")

    def _reap(self) -> None:
        """Record the end of children that exited (and what each used)."""
        for job_id, child in list(self.children.items()):
            code = _poll(child)
            if code is None:
                continue
            del self.children[job_id]
            for f in child.files:
                f.close()
            self._record_end(child, code)
            self._record_usage([child])

    def _record_end(self, child: Child, code: int) -> None:
        """The child records done/failed itself; this covers the deaths it could not record
        (killed, crashed interpreter): a job still running under our lease (`outcome`)."""
        from store import queries, queue

        job = queries.get_job(self.home.db, child.job_id)
        if job.status == JobStatus.RUNNING and job.lease_owner == self.owner:
            end = outcome(code, cancel_requested=job.cancel_requested, stopping=self.stopping,
                          term_sent=child.term_sent_at is not None, tail=lambda: _tail(child),
                          stalled=child.stalled, stalls_before=_stalls(self.home.db, job.id) if child.stalled else 0)
            status, error = end.status, end.error
            if end.crashed and "," in child.device:  # a rank of a job on several devices: resume it, up to a cap
                from aetui.worker.gang import crash_verdict

                status, error = crash_verdict(self.home.db, job.id, child.proc.describe())
            stalled = child.stalled is not None and error == child.stalled  # a notice of its own, requeued or not
            queue.finish(self.home.db, job_id=job.id, worker=self.owner, status=status, error=error,
                         event=NoticeEvent.STALLED if stalled else None)
            job = queries.get_job(self.home.db, child.job_id)
        elif code == EXIT_HOST and job.status == JobStatus.QUEUED and self.executor is None:
            # its child found this host at fault (a Slurm node's fault is not this host's)
            self.host_fault = job.error or "this host cannot run jobs"
        verb = {EXIT_DONE: "finished"}.get(code, "ended")
        self.log(f"job {job.id}: {verb} -> {job.status}" + (f" ({job.error})" if job.error else ""))

    def _stop_children(self) -> None:
        """Ask every child to checkpoint and requeue; wait (then kill) and record it."""
        from store import queries, queue

        for child in self.children.values():
            self.log(f"job {child.job_id}: worker stopping; checkpointing and requeueing")
            self._terminate(child)
        deadline = time.time() + self.grace_s
        while self.children and time.time() < deadline:
            self._reap()
            time.sleep(STOP_POLL_S)
        for job_id, child in list(self.children.items()):
            child.proc.kill()
            child.proc.wait()
            self._record_usage([child])
            job = queries.get_job(self.home.db, child.job_id)
            if job.status == JobStatus.RUNNING:
                queue.finish(self.home.db, job_id=job.id, worker=self.owner, status=JobStatus.QUEUED)
            del self.children[job_id]


def _poll(child: Child) -> int | None:
    """The child's exit code, or None while it runs. A local child is reaped with wait4,
    whose rusage is the job's exact CPU time (its meter keeps it)."""
    from aetui.worker.gang import Gang

    proc = child.proc
    if child.meter is not None and isinstance(proc, Gang):  # its ranks' rusage, kept as each was reaped
        code = proc.poll()
        if code is not None:
            for pid, rusage in proc.rusage.items():
                child.meter.finish(rusage, pid)
        return code
    if child.meter is None or not isinstance(proc, subprocess.Popen) or proc.returncode is not None:
        return proc.poll()
    try:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
    except ChildProcessError:  # reaped elsewhere already
        return proc.poll()
    if pid == 0:
        return None
    proc.returncode = os.waitstatus_to_exitcode(status)
    child.meter.finish(rusage)
    return proc.returncode


def _stalls(db, job_id: int) -> int:
    """How many earlier attempts of the job were stopped as stalled."""
    from store import queries

    return sum(1 for a in queries.attempts(db, job_id) if (a.error or "").startswith("stalled"))


def _tail(child: Child, lines: int = 3) -> str:
    if len(child.files) < 2:  # an executor's job: its handle knows where its log is
        return child.proc.describe() if hasattr(child.proc, "describe") else ""
    path = Path(child.files[1].name)
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])[-600:]
