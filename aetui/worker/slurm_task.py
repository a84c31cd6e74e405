"""What runs inside a Slurm job: the claimed aetui job, as a submitit `Checkpointable`.

`aetui.worker.executors.SlurmExecutor` pickles a `SlurmTask` into the run folder's
`slurm/` folder and submits it; submitit runs it on a node. The task renews the job's
lease itself (every `HEARTBEAT_S`), runs `execute` in a thread, and answers Slurm:

- SIGTERM (`scancel`, `scontrol requeue`, a preemption without USR2): the training stops
  at its next step with a checkpoint; the task returns.
- submitit's checkpoint hook (USR2 before the time limit, or a preemption): the same,
  then it hands submitit this task again, which Slurm requeues and which resumes from
  the run folder's latest checkpoint.

Pickles name this module (`aetui.worker.slurm_task.SlurmTask`): moving or renaming the
class breaks the requeue of jobs submitted before; `aetui.worker.executors` also exports
it under its old path for pickles written by earlier versions.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from aetui.worker.defaults import HEARTBEAT_S, SLURM_CHECKPOINT_GRACE_S
from aetui.worker.execute import EXIT_FAILED


class _Checkpointable:
    pass


def _own_rusage() -> Any:
    """This process's CPU time and that of its children it waited for (data loaders)."""
    import resource
    from types import SimpleNamespace

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return SimpleNamespace(ru_utime=me.ru_utime + kids.ru_utime, ru_stime=me.ru_stime + kids.ru_stime)


try:  # submitit is optional (the `scale` extra); the task only exists where it is installed
    from submitit.helpers import Checkpointable as _Checkpointable  # type: ignore[no-redef]  # noqa: F811
except ImportError:  # pragma: no cover
    pass


class SlurmTask(_Checkpointable):
    """What runs on the Slurm node: `execute` the claimed job in a thread, while the main
    thread renews the lease and answers Slurm's signals."""

    def __init__(self, *, home: str, db_url: str, runs_root: str, job_id: int, owner: str, device: str):
        self.home, self.db_url, self.runs_root = home, db_url, runs_root
        self.job_id, self.owner, self.device = job_id, owner, device
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:  # what submitit pickles: no live thread or event
        return {k: v for k, v in self.__dict__.items() if k not in ("_stop", "_thread")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._stop = self._thread = None

    def __call__(self) -> int:
        os.environ["AETUI_DB"] = self.db_url
        os.environ["AETUI_RUNS_ROOT"] = self.runs_root
        from aetui.home import Home
        from aetui.worker.execute import execute
        from store import queue

        home = Home.resolve(self.home)
        stop = self._stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())  # scancel, scontrol requeue, preemption
        print(f"aetui: job {self.job_id} in slurm job {os.environ.get('SLURM_JOB_ID')} on {socket.gethostname()} "
              f"({self.device}, lease {self.owner})", flush=True)
        result: dict[str, int] = {}

        def run() -> None:
            result["code"] = execute(home, self.job_id, owner=self.owner, device=self.device,
                                     should_stop=stop.is_set, requeue_on_stop=False)

        from aetui.worker.usage import UsageMeter

        # the job runs in this process, on its node's own device; after a Slurm requeue
        # (the same claim), this run's usage adds to what the runs before it recorded
        meter = UsageMeter(os.getpid(), [self.device], earlier=self._recorded_usage(home))
        self._thread = threading.Thread(target=run, name=f"aetui-job-{self.job_id}")
        self._thread.start()
        beat = 0.0
        while self._thread.is_alive():
            self._thread.join(0.5)  # short waits: Python runs signal handlers between them
            meter.sample()
            if time.monotonic() - beat >= HEARTBEAT_S:
                beat = time.monotonic()
                try:
                    if queue.heartbeat(home.db, worker=self.owner, job_ids=[self.job_id]):
                        stop.set()  # `aetui cancel`, seen before (or without) the worker's scancel
                    self._record_usage(home, meter)
                except Exception as e:  # noqa: BLE001 - the store briefly away; the lease has slack
                    print(f"aetui: heartbeat failed: {e}", file=sys.stderr, flush=True)
        meter.finish(_own_rusage())
        try:
            self._record_usage(home, meter)
        except Exception as e:  # noqa: BLE001 - the outcome is recorded already; usage is extra
            print(f"aetui: usage not recorded: {e}", file=sys.stderr, flush=True)
        code = result.get("code", EXIT_FAILED)
        print(f"aetui: job {self.job_id} exit {code}", flush=True)
        return code

    def _recorded_usage(self, home: Any) -> dict[str, Any]:
        from store import queries

        try:
            mine = [a for a in queries.attempts(home.db, self.job_id) if a.worker == self.owner]
        except Exception:  # noqa: BLE001 - the store briefly away: this run's usage alone
            return {}
        return dict(max(mine, key=lambda a: a.number).usage or {}) if mine else {}

    def _record_usage(self, home: Any, meter: Any) -> None:
        """What this job used on its node so far, on its attempt (`aetui show`, the dashboard)."""
        from store import queue

        if usage := meter.usage():
            queue.record_usage(home.db, job_id=self.job_id, worker=self.owner, usage=usage)

    def checkpoint(self, *args: Any, **kwargs: Any):
        """submitit's hook on timeout or preemption: let the training save a checkpoint and
        stop, then hand back this same task, which Slurm requeues and which resumes."""
        print(f"aetui: job {self.job_id}: slurm asks to checkpoint (timeout or preemption)", flush=True)
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(SLURM_CHECKPOINT_GRACE_S)
        return super().checkpoint(*args, **kwargs)
