"""Where a claimed job runs: the one small interface between the worker loop and a runner.

The worker (`supervisor.Worker`) claims jobs, renews their leases and reaps them; by
default each job is a local child process (`Worker._start`). An executor set on the worker
(`worker.executor`) starts the job elsewhere instead and returns a handle that behaves like
the `subprocess.Popen` of a local child:

    class Executor:
        name: str
        skips: dict[str, str]            # job kinds it cannot run -> the worker's log line saying so
        def start(self, worker, job_id: int, device: str) -> Handle

    class Handle:
        pid: int | None
        def poll(self) -> int | None     # None while it runs; then one of the EXIT_* codes
        def terminate(self) -> None      # checkpoint and stop (a cancel, or the worker stopping)
        def kill(self) -> None
        def wait(self, timeout: float | None = None) -> int
        def describe(self) -> str        # one line for the error of a job that died

`SlurmExecutor` submits each job to Slurm through submitit. The job runs on a node as a
`SlurmTask` (a submitit `Checkpointable`, `aetui.worker.slurm_task`): it renews its own
lease, so it needs the worker only to be reaped. Slurm owns its life while it is submitted:

- timeout or preemption (submitit's USR2 signal): `checkpoint()` stops the training, which
  saves a checkpoint, and hands submitit the same task again; Slurm requeues it and the
  training resumes from the run folder's latest checkpoint. The job stays `running` here.
- `scontrol requeue` or a preemption without USR2 (SIGTERM): the same, Slurm requeueing.
- `aetui cancel`: the worker cancels the Slurm job (`scancel` through submitit's
  `job.cancel()`); the task sees the cancel and records the job cancelled.
- the worker stopping (Ctrl-C): its Slurm jobs are cancelled and go back to the queue.

The Slurm job's id, state, node, restarts and log files are in the run's
`results["slurm"]` (`aetui show --json`, the dashboard).

Command jobs (`aetui add -- CMD`) are not run on Slurm: the task runs aetui's own runners,
not a program in its own process group with the cwd and environment taken at queue time.
A Slurm worker leaves them queued for a local worker (`aetui worker`) and says so once.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from aetui.errors import UserError
from aetui.run_layout import RunLayout
from aetui.worker.defaults import SLURM_POLL_S, SLURM_TIME_MIN
from aetui.worker.execute import EXIT_FAILED, EXIT_STOPPED
from aetui.worker.slurm_task import SlurmTask  # also where pickles of older submissions look for it
from store.states import JobStatus

ALIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
         "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "PREEMPTED", "RESV_DEL_HOLD"}


class SlurmError(UserError):
    """Slurm refused or is unreachable; the text is for the user."""


def parse_minutes(text: str) -> int:
    """Slurm's time formats (`MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM[:SS]`) -> minutes."""
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text.strip())
    if not m:
        raise ValueError(f"--time {text!r}: use minutes or Slurm's [D-]HH:MM:SS")
    days, a, b, c = m.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        total_s = int(days) * 86400 + int(a) * 3600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # HH:MM:SS
        total_s = int(a) * 3600 + int(b) * 60 + int(c)
    elif b is not None:  # MM:SS
        total_s = int(a) * 60 + int(b)
    else:  # MM
        total_s = int(a) * 60
    return max(1, -(-total_s // 60))


def parse_opts(pairs: list[str] | None) -> dict[str, Any]:
    """`--slurm-opt key=value` (repeatable; a bare `key` is a flag) -> sbatch parameters."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().lstrip("-")
        if not key:
            raise ValueError(f"--slurm-opt {pair!r}: expected key=value, e.g. qos=high")
        out[key.replace("-", "_")] = value.strip() if sep else True
    return out


@dataclass
class SlurmExecutor:
    """Submit each claimed job as one Slurm job (options as `sbatch` takes them)."""

    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int | None = None
    time: str | None = None  # e.g. 4:00:00; else SLURM_TIME_MIN
    mem: str | None = None  # e.g. 32G
    account: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    name: str = "slurm"
    skips: ClassVar[dict[str, str]] = {
        "command": "command jobs are left to local workers: --executor slurm does not run them "
                   "(start `aetui worker` without it for those)"}

    def minutes(self) -> int:
        return parse_minutes(self.time) if self.time else SLURM_TIME_MIN

    def parameters(self, job_id: int) -> dict[str, Any]:
        params: dict[str, Any] = {"job_name": f"aetui-{job_id}", "time": self.minutes(), "nodes": 1,
                                  "ntasks_per_node": 1, "wckey": None}
        if self.partition:
            params["partition"] = self.partition
        if self.gpus_per_job:
            params["gpus_per_node"] = self.gpus_per_job
        if self.cpus_per_job:
            params["cpus_per_task"] = self.cpus_per_job
        if self.mem:
            params["mem"] = self.mem
        if self.account:
            params["account"] = self.account
        if self.extra:
            params["additional_parameters"] = dict(self.extra)
        return params

    def check(self) -> None:
        """Fail early, in one line, when Slurm cannot be reached from here."""
        import shutil

        for tool in ("sbatch", "srun", "scontrol", "scancel"):
            if not shutil.which(tool):
                raise SlurmError(f"--executor slurm: `{tool}` is not on PATH (is this a Slurm login node?)")
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise SlurmError("--executor slurm needs submitit: pip install 'aetui[scale]'") from None
        probe = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=30)
        if probe.returncode != 0 or "UP" not in probe.stdout:
            raise SlurmError(f"--executor slurm: the Slurm controller does not answer: "
                             f"{(probe.stdout + probe.stderr).strip()[:300]}")

    def start(self, worker, job_id: int, device: str) -> "SlurmHandle":
        import submitit

        from store import queries, queue

        home = worker.home
        from aetui.run_owner import resolve

        folder = RunLayout.at(resolve(home.path, queries.get_run(home.db, job_id).run_dir)).slurm
        folder.mkdir(parents=True, exist_ok=True)
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=100)
        executor.update_parameters(**self.parameters(job_id))
        task = SlurmTask(home=str(home.path), db_url=_full_url(home), runs_root=str(home.runs), job_id=job_id,
                         owner=worker.owner, device="cuda:0" if self.gpus_per_job else "cpu")
        try:
            sjob = executor.submit(task)
        except Exception as e:  # sbatch refused: the job fails with sbatch's words
            message = str(e).strip().splitlines()
            queue.finish(home.db, job_id=job_id, worker=worker.owner, status=JobStatus.FAILED,
                         error=f"sbatch refused the job: {' '.join(message)[-600:]}")
            return FinishedHandle(EXIT_FAILED, "sbatch refused the job")
        handle = SlurmHandle(home.db, job_id, sjob)
        handle.record({"job_id": sjob.job_id, "state": "PENDING", "partition": self.partition,
                       "submitted_at": time.time(), "folder": str(folder),
                       "stdout": str(sjob.paths.stdout), "stderr": str(sjob.paths.stderr)})
        return handle


def _full_url(home) -> str:
    """The store's URL as the node must open it (the password kept: it is the worker's own)."""
    url = home.db.url
    return url.render_as_string(hide_password=False)


class FinishedHandle:
    """A job that ended before it started (sbatch refused it); already recorded."""

    pid = None

    def __init__(self, code: int, why: str):
        self.code, self.why = code, why

    def poll(self) -> int:
        return self.code

    def wait(self, timeout: float | None = None) -> int:
        return self.code

    def terminate(self) -> None:
        pass

    kill = terminate

    def describe(self) -> str:
        return self.why


class SlurmHandle:
    """The worker's view of one submitted job, polled like a child process."""

    pid = None

    def __init__(self, db, job_id: int, sjob):
        self.db, self.job_id, self.sjob = db, job_id, sjob
        self.info: dict[str, Any] = {}
        self.code: int | None = None
        self._checked = 0.0
        self._cancel_sent = False

    @property
    def slurm_id(self) -> str:
        return str(self.sjob.job_id)

    def record(self, changes: dict[str, Any]) -> None:
        """Write what changed of the Slurm job into the run's results["slurm"]."""
        from store import queue

        merged = {**self.info, **changes}
        if merged == self.info:
            return
        self.info = merged
        queue.record_run(self.db, job_id=self.job_id, results={"slurm": dict(merged)}, host=merged.get("node"))

    def poll(self) -> int | None:
        if self.code is not None:
            return self.code
        if time.monotonic() - self._checked < SLURM_POLL_S:
            return None
        return self._refresh()

    def _refresh(self) -> int | None:
        self._checked = time.monotonic()
        try:
            info = slurm_job(self.slurm_id)
        except SlurmError:
            return None  # the controller is busy or restarting: ask again later
        if info is None:  # forgotten by the controller (MinJobAge): judge by submitit's result
            state = "COMPLETED" if self.sjob.paths.result_pickle.exists() else "UNKNOWN"
            changes: dict[str, Any] = {"state": state}
        else:
            state = info.get("JobState", "UNKNOWN")
            changes = {"state": state, "reason": info.get("Reason"), "restarts": int(info.get("Restarts", 0) or 0),
                       "exit_code": info.get("ExitCode")}
            node = info.get("BatchHost") or info.get("NodeList")
            if node and node != "(null)":
                changes["node"] = node
        self.record(changes)
        if state in ALIVE:
            return None
        self.code = self._outcome(state)
        return self.code

    def _outcome(self, state: str) -> int:
        """The task's own return value when it got to return one; else what Slurm says."""
        if self.sjob.paths.result_pickle.exists():
            try:
                value = self.sjob.result()
                return value if isinstance(value, int) else EXIT_FAILED
            except Exception:  # the task raised: its traceback is in the log
                return EXIT_FAILED
        return EXIT_STOPPED if state == "CANCELLED" else EXIT_FAILED

    def terminate(self) -> None:
        """Cancel the Slurm job (scancel): a running task gets SIGTERM, checkpoints and stops."""
        if not self._cancel_sent:
            self._cancel_sent = True
            self.sjob.cancel(check=False)

    kill = terminate  # Slurm kills after its KillWait; nothing harder to send from here

    def wait(self, timeout: float | None = 120.0) -> int:
        deadline = time.monotonic() + (timeout if timeout is not None else 1e9)
        while time.monotonic() < deadline:
            code = self._refresh()
            if code is not None:
                return code
            time.sleep(1.0)
        return self.code if self.code is not None else EXIT_STOPPED

    def describe(self) -> str:
        state = self.info.get("state", "?")
        where = f" on {self.info['node']}" if self.info.get("node") else ""
        tail = _tail_file(self.sjob.paths.stderr)
        return f"slurm job {self.slurm_id} {state}{where}" + (f" | {tail}" if tail else "")


def _tail_file(path: Path, lines: int = 3) -> str:
    try:
        text = Path(path).read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    text = [t for t in text if "submitit" not in t]
    return " | ".join(text[-lines:])[-600:]


def slurm_job(slurm_id: str) -> dict[str, str] | None:
    """`scontrol show job` as a dict; None once the controller no longer knows the job.

    Works without Slurm's accounting database (which `sacct`, and so submitit's own state
    queries, need)."""
    try:
        out = subprocess.run(["scontrol", "show", "job", "-o", str(slurm_id)], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmError(f"scontrol: {e}") from None
    if out.returncode != 0:
        if "Invalid job id" in out.stderr:
            return None
        raise SlurmError(f"scontrol: {out.stderr.strip()[:300]}")
    line = out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    info: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep and key not in info:
            info[key] = value
    return info or None
