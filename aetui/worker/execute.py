"""Running one claimed job to its end state, in whatever process holds its lease.

Used by the worker's child process and by foreground runs (`--now`, `aetui demo`).
The outcome is written to the store here: done, failed (with the reason), or back in
the queue when the job was asked to stop (or cancelled if that was a cancel).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Callable

from aetui.home import Home
from aetui.worker.exits import EXIT_DONE, EXIT_FAILED, EXIT_HOST, EXIT_STOPPED  # noqa: F401  (re-exported)
from aetui.worker.faults import Fault, folder_gone, host_fault, start_fault
from store.states import JobStatus


def host_name() -> str:
    return socket.gethostname()


def owner_id(pid: int | None = None) -> str:
    """A lease holder: host and process id, so a worker on the same host can tell it is gone."""
    return f"{host_name()}:{pid or os.getpid()}"


def execute(home: Home, job_id: int, *, owner: str, device: str,
            on_progress: Callable | None = None, should_stop: Callable[[], bool] = lambda: False,
            requeue_on_stop: bool = True) -> int:
    """Run the job and record its outcome; returns one of the EXIT_* codes.

    `requeue_on_stop=False` (a job under Slurm, which requeues it itself): a stop that is not
    a cancel leaves the job running in the store, with the step of its checkpoint."""
    from aetui.experiments.context import JobContext, JobFailed, LeaseLost, RetryJob, StopRequested
    from aetui.specs import parse_spec
    from store import queries, queue

    job = queries.get_job(home.db, job_id)
    if job.status != JobStatus.RUNNING or job.lease_owner != owner:
        print(f"aetui: job {job_id} is {job.status} and not held by {owner}; not running it", file=sys.stderr)
        return EXIT_STOPPED
    from aetui.run_owner import NotOurs, job_run_dir, resolve

    try:
        run_dir = job_run_dir(home, job_id, job)
    except NotOurs as e:  # another job's files: write nothing there
        print(f"aetui: {e}", file=sys.stderr)
        queue.finish(home.db, job_id=job_id, worker=owner, status=JobStatus.FAILED, error=str(e))
        return EXIT_FAILED
    except OSError as e:  # the run folder cannot be made: this host's fault, or the job's
        folder = resolve(home.path, queries.get_run(home.db, job_id).run_dir)
        return _cannot_start(home, job_id, owner, start_fault(folder, e, home.runs))
    parent_dir = None
    if job.parent_id is not None:
        parent_run = queries.get_run(home.db, job.parent_id)
        parent_dir = resolve(home.path, parent_run.run_dir) if parent_run else None
    ctx = JobContext(home=home, job_id=job_id, run_dir=run_dir, device=device, parent_run_dir=parent_dir,
                     on_progress=on_progress, should_stop=should_stop, owner=owner, job_uid=job.uid)
    try:
        spec = parse_spec(job.kind, job.spec)
        queue.record_run(home.db, job_id=job_id, versions=versions(), git_commit=git_commit())
        job_runner(job.kind)(spec, ctx)
    except StopRequested as stop:
        cancelled = queries.get_job(home.db, job_id).cancel_requested
        if not cancelled and not requeue_on_stop:
            queue.progress(home.db, job_id=job_id, step=stop.step, owner=owner)
            return EXIT_STOPPED
        queue.finish(home.db, job_id=job_id, worker=owner, status=JobStatus.CANCELLED if cancelled else JobStatus.QUEUED,
                     error="cancelled by user" if cancelled else None, step=stop.step)
        return EXIT_STOPPED
    except LeaseLost as lost:  # another worker took the job over; it is theirs to record
        print(f"aetui: {lost}; stopping", file=sys.stderr)
        return EXIT_STOPPED
    except RetryJob as again:
        spec_now = queries.get_job(home.db, job_id).spec
        queue.finish(home.db, job_id=job_id, worker=owner, status=JobStatus.QUEUED, error=again.reason,
                     spec={**spec_now, **again.spec_changes})
        return EXIT_STOPPED
    except Exception as e:  # the job failed; the worker goes on (unless this host is at fault)
        traceback.print_exc()
        error = _describe(e)
        gone = folder_gone(run_dir, error)
        fault = host_fault(e) if gone is None else None
        if fault is not None:
            return _cannot_start(home, job_id, owner, Fault(True, fault))
        error = gone or error
        queue.finish(home.db, job_id=job_id, worker=owner, status=JobStatus.FAILED, error=error,
                     step=e.step if isinstance(e, JobFailed) else None)
        return EXIT_FAILED
    if "torch" in sys.modules:  # now the CUDA version is known too
        queue.record_run(home.db, job_id=job_id, versions=versions())
    queue.finish(home.db, job_id=job_id, worker=owner, status=JobStatus.DONE)
    return EXIT_DONE


def job_runner(kind: str) -> Callable:
    """The `run(spec, ctx)` of a job kind: a runner of `aetui.experiments`, or, for a
    command job, `aetui.worker.command` (running a program in a process group of its own,
    with the devices the worker pinned, is the worker's business)."""
    if kind == "command":
        from aetui.worker.command import run

        return run
    from aetui.experiments import runner

    return runner(kind)


def _cannot_start(home: Home, job_id: int, owner: str, fault: Fault) -> int:
    """A fault of the host puts the job back in the queue (EXIT_HOST: the worker stops
    claiming); a fault of the job fails it (EXIT_FAILED: the worker goes on)."""
    from store import queue

    print(f"aetui: job {job_id}: {fault.reason}", file=sys.stderr)
    if fault.host:
        queue.finish(home.db, job_id=job_id, worker=owner, status=JobStatus.QUEUED, error=fault.reason)
        return EXIT_HOST
    queue.finish(home.db, job_id=job_id, worker=owner, status=JobStatus.FAILED, error=fault.reason)
    return EXIT_FAILED


def _describe(e: BaseException) -> str:
    from aetui.experiments.context import JobFailed
    from aetui.experiments.oom import is_out_of_memory

    if isinstance(e, (JobFailed, ValueError)):
        return str(e)
    if is_out_of_memory(e):
        return f"out of memory: {(str(e).splitlines() or [''])[0][:500]}"
    return f"{type(e).__name__}: {e}".strip()[:2000]


def versions() -> dict[str, str]:
    """Versions of what runs the job, without importing torch (jobs that need it do)."""
    import platform
    from importlib import metadata

    import aetui

    out = {"aetui": aetui.__version__, "python": platform.python_version()}
    try:
        out["torch"] = metadata.version("torch")
    except metadata.PackageNotFoundError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["cuda"] = str(torch.version.cuda)
    return out


def git_commit() -> str | None:
    """The commit of the aetui source that runs the job, when it is a git checkout."""
    src = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def child_env(home: Home) -> dict[str, str]:
    """A job process's environment: the worker's, with the store and runs root the worker
    resolved pinned, and no config file (`aetui.config`): a file edited while jobs run
    (or broken) changes nothing for a job already started."""
    return {**os.environ, "AETUI_DB": home.db_url, "AETUI_RUNS_ROOT": str(home.runs), "AETUI_CONFIG": os.devnull}


def child_command(home: Home, job_id: int, owner: str, device: str) -> list[str]:
    return [sys.executable, "-m", "aetui.worker.child", "--home", str(home.path), "--job", str(job_id),
            "--owner", owner, "--device", device]
