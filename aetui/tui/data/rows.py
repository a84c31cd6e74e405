"""The table's view of a job: a small frozen record built once per fetched row.

Its fields are those of `aetui.jobs.job_summary` (the record `aetui runs --json`
prints; a test holds them equal) plus the raw times the table formats and compares.
They are derived here rather than by calling it because importing `aetui.jobs` loads
the spec models (pydantic, ~0.6 s), which the table's first paint must not wait for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from store.states import JobStatus, is_stopping, shown_phase, shown_status


@dataclass(frozen=True)
class JobRow:
    id: int
    kind: str
    status: str
    label: str
    model: str | None
    res: int | None
    priority: int
    device: str
    step: int
    total_steps: int
    loss: float | None
    images_per_s: float | None
    eta_s: float | None
    parent_id: int | None
    error: str | None
    last_line: str | None  # a running job's progress in words: a command job's last line of output
    created_at: float
    updated_at: float
    started_at: float | None = None  # its first start (`Job.started_at`), before any retry
    # when its running attempt started (`store.queries.running_since`): a running job's time
    # so far counts from it, so a retried command shows this attempt's time, not the sum
    attempt_started_at: float | None = None
    # a running job whose cancel was asked (`Job.cancel_requested`): shown as stopping…
    # until its worker records how it ended; not a status of its own in the store
    stopping: bool = False
    # the job's settings, for the labels of rows that share one (`settings_diff.shown_labels`)
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_job(cls, job: Any, attempt_started_at: float | None = None) -> "JobRow":
        """From a `store.tables.Job` (or a `store.sqlite_read` record with its columns), and
        when its running attempt started, if it runs."""
        spec = job.spec or {}
        return cls(
            id=job.id, kind=job.kind, status=job.status, label=job.label or "", model=spec.get("model"),
            res=spec.get("res"), priority=job.priority, device=job.assigned_device or job.device or "",
            step=job.step or 0, total_steps=job.total_steps or 0, loss=job.loss, images_per_s=job.images_per_s,
            eta_s=job.eta_s, parent_id=job.parent_id, error=job.error, last_line=getattr(job, "last_line", None),
            created_at=job.created_at, updated_at=job.updated_at, started_at=job.started_at,
            attempt_started_at=attempt_started_at,
            stopping=is_stopping(job.status, getattr(job, "cancel_requested", False)), spec=spec,
        )

    def elapsed_s(self, now: float) -> float | None:
        """A running job's time so far in this attempt; None for any other."""
        if self.status != JobStatus.RUNNING or self.attempt_started_at is None:
            return None
        return now - self.attempt_started_at

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else (1.0 if self.status == JobStatus.DONE else 0.0)

    @property
    def shown_status(self) -> str:
        """The status as the dashboard says it: `stopping…` while a cancel is on its way."""
        return shown_status(self.status, self.stopping)

    @property
    def phase(self) -> str | None:
        """What a running job does before its first step (`preparing data 300/2048`), or None."""
        return shown_phase(self.status, self.kind, self.last_line)

    @property
    def title(self) -> str:
        """One line naming the job, e.g. `#12 train unet res64 builtin`."""
        return f"#{self.id} {self.kind} {self.label}".rstrip()
