"""A job's statuses (the lifecycle queued -> running -> done / failed / cancelled), the
outcomes an attempt records, and the orders a list of jobs can be read in.

A module of its own with no SQLModel import, so light readers (`aetui runs`, the
dashboard's first paint) use them without importing the tables (SQLModel costs most of
a second to import).

The members are strings: they compare equal to the plain strings a store row or a JSON
document holds (`JobStatus.DONE == "done"`), hash like them, and format as their value
everywhere (`str()`, f-strings, `format()`, `json.dumps`), so the stored strings are
exactly those of before. These values are written in databases: never rename one.
"""

from __future__ import annotations

from enum import Enum


class ValueStrEnum(str, Enum):
    """A string enum that formats as its value, as 3.11's `enum.StrEnum` does; on 3.10 a
    plain (str, Enum) member would print as "JobStatus.DONE" in an f-string."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(str.__str__(self), spec)


try:
    from enum import StrEnum
except ImportError:  # Python 3.10
    StrEnum = ValueStrEnum  # type: ignore[misc,assignment]


class JobStatus(StrEnum):
    """Where a job is in its lifecycle (`Job.status`)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class AttemptOutcome(StrEnum):
    """How one claim of a job by a worker ended (`Attempt.outcome`); RUNNING while it runs."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REQUEUED = "requeued"  # the job went back to the queue (e.g. out of memory, worker stopping)
    LOST = "lost"  # its worker went away (process gone, lease expired)


class NoticeEvent(StrEnum):
    """What a notice in the outbox (`tables.Notice.event`) says happened, and what
    `[notify] on` in the config file chooses from: a job's final status, a job stopped for
    making no progress (requeued or failed), or a whole grid or `--after` chain ended."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALLED = "stalled"
    GROUP = "group"


STATUSES = tuple(JobStatus)
STOPPING = "stopping…"  # how a running job whose cancel was asked is shown (not a stored status)
# what a claimed job says until its process says more (`preparing data`...): the seconds
# its process takes to start and import PyTorch showed as a bare `0/2000`
STARTING = "starting"
OWN_OUTPUT_KINDS = ("command",)  # kinds whose `Job.last_line` is their output, never a phase
ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED = tuple(s for s in JobStatus if s not in ACTIVE)
OUTCOMES = tuple(AttemptOutcome)

# the job kinds (`aetui.specs.SPEC_TYPES`; a test keeps them equal: importing the specs
# would import pydantic, which `aetui runs` and the table's filter never need)
JOB_KINDS = ("train", "sweep", "walk", "probe", "command", "noop")

# the orders of `store.queries.job_window`
JOB_SORTS = ("id", "kind", "model", "res", "status", "progress", "loss", "images_per_s", "eta", "device",
             "priority")
UNCHANGING_SORTS = frozenset({"id", "kind", "model", "res"})  # values that never change while a job runs


def is_stopping(status: str, cancel_requested: bool) -> bool:
    """A running job whose cancel was asked, until its worker records how it ended."""
    return bool(cancel_requested) and status == JobStatus.RUNNING


def shown_status(status: str, cancel_requested: bool) -> str:
    """A job's status as people read it (table, run view, `aetui runs`, `aetui show`):
    `stopping…` while `is_stopping`. Derived from the stop request; never stored."""
    return STOPPING if is_stopping(status, cancel_requested) else str(status)


def shown_phase(status: str, kind: str, last_line: str | None) -> str | None:
    """What a running job does before its first step (`preparing data 300/2048`: its
    `Job.last_line` until steps run); None for any other job, whatever an attempt that
    ended early left behind, and for a command job (its last line is its output)."""
    return (last_line or None) if status == JobStatus.RUNNING and kind not in OWN_OUTPUT_KINDS else None
