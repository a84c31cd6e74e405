"""What a running job may do: report progress, record results, notice a stop request.

The same context serves a job in a worker's child process and a job run in the
foreground (`--now`, `aetui demo`); only `on_progress` differs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from aetui.home import Home

PROGRESS_EVERY_S = 1.0


class StopRequested(Exception):
    """Raised by a runner after it saved its state because the job was asked to stop."""

    def __init__(self, step: int):
        super().__init__(f"stopped at step {step}")
        self.step = step


class JobFailed(Exception):
    """A job ended for a reason the user should read (e.g. "diverged at step 120").
    `step`, when the runner knows it: the step a retry resumes from (its newest good
    checkpoint), recorded as the attempt's end instead of the last step it reported."""

    def __init__(self, message: str, step: int | None = None):
        super().__init__(message)
        self.step = step


class RetryJob(Exception):
    """End this attempt and queue the job again with some spec fields changed (e.g. half
    the batch after running out of memory); `reason` is recorded on the attempt."""

    def __init__(self, reason: str, spec_changes: dict[str, Any]):
        super().__init__(reason)
        self.reason, self.spec_changes = reason, spec_changes


class LeaseLost(Exception):
    """The job was taken away from this process (its lease expired and another worker
    requeued it): stop at once and write nothing more."""


@dataclass
class JobContext:
    home: Home
    job_id: int
    run_dir: Path
    device: str  # torch device string, e.g. "cpu" or "cuda:0" (after CUDA_VISIBLE_DEVICES)
    parent_run_dir: Path | None = None
    on_progress: Callable[[int, int, float | None], None] | None = None
    should_stop: Callable[[], bool] = lambda: False
    start_step: int = 0
    batch_size: int = 0  # set by runners that report images/s, for the ETA
    owner: str | None = None  # the lease holder; progress is refused once it lost the lease
    job_uid: str | None = None  # the job's own name, written into its checkpoints (`aetui.run_owner`)
    _last_report: float = field(default=0.0, repr=False)
    _last_phase: tuple[str, float] = field(default=("", 0.0), repr=False)  # what was written, when

    def started(self, step: int) -> None:
        """Record the step this attempt really starts from (the checkpoint it resumed)."""
        self.start_step = step
        if self.owner is None:
            return
        from store import queue

        if not queue.record_start(self.home.db, job_id=self.job_id, owner=self.owner, step=step):
            raise LeaseLost(f"job {self.job_id} is no longer held by {self.owner}")

    def progress(self, step: int, total: int, *, loss: float | None = None,
                 images_per_s: float | None = None, force: bool = False) -> None:
        """Tell the store (at most once a second unless forced) and the foreground bar."""
        if self.on_progress is not None:
            self.on_progress(step, total, loss)
        now = time.monotonic()
        if not force and now - self._last_report < PROGRESS_EVERY_S:
            return
        self._last_report = now
        from store import queue

        eta = (total - step) / (images_per_s / self.batch_size) if images_per_s and self.batch_size else None
        held = queue.progress(self.home.db, job_id=self.job_id, step=step, total_steps=total, loss=loss,
                              images_per_s=images_per_s, eta_s=eta, owner=self.owner, words_done=True)
        if not held:
            raise LeaseLost(f"job {self.job_id} is no longer held by {self.owner}")

    def last_line(self, text: str) -> None:
        """A line of progress in words (a command job's last line of output); it also says
        the job is alive (`Job.updated_at`)."""
        from store import queue

        if not queue.last_line(self.home.db, job_id=self.job_id, text=text, owner=self.owner):
            raise LeaseLost(f"job {self.job_id} is no longer held by {self.owner}")

    def phase(self, what: str, done: int | None = None, total: int | None = None) -> None:
        """Say what the job does before its first step ("preparing data", 300, 2048), for
        the table, the run view and `aetui show`: its line of progress in words
        (`last_line`) until the first step's progress clears it. A new phase is written at
        once (and printed to the job's log); counts within one at most once a second."""
        text = f"{what} {done}/{total}" if total else what
        now = time.monotonic()
        last_what, last_time = self._last_phase
        if what == last_what and done != total and now - last_time < PROGRESS_EVERY_S:
            return
        if what != last_what:
            print(f"aetui: {what}", flush=True)
        self._last_phase = (what, now)
        if self.owner is not None:
            self.last_line(text)

    def record(self, *, metrics: dict[str, Any] | None = None, artifacts: dict[str, Any] | None = None,
               results: dict[str, Any] | None = None) -> None:
        from store import queue

        queue.record_run(self.home.db, job_id=self.job_id, metrics=metrics, artifacts=artifacts, results=results)

    def artifact_path(self, *parts: str) -> Path:
        path = self.run_dir.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
