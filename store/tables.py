"""The tables. Times are unix seconds (float) so that ordering and "changed since"
queries are plain comparisons on every backend."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from sqlalchemy import JSON, Column, String
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from store.states import ACTIVE, FINISHED, STATUSES, AttemptOutcome, JobStatus  # noqa: F401  (re-exported)


class StateString(TypeDecorator):
    """A state enum stored as its plain string (a VARCHAR, as the migrations made it: no
    database enum type, no CHECK) and read back as the enum member.

    Values go to the driver as exact `str`, whatever adapters a driver has for enums. Other
    strings pass both ways unchanged, as before the enum: a filter on an unknown status
    matches nothing, and a value this version does not know still reads."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[JobStatus] | type[AttemptOutcome]) -> None:
        super().__init__()
        self.enum = enum

    def process_bind_param(self, value, dialect):  # noqa: ANN001
        return None if value is None else str.__str__(value)

    def process_result_value(self, value, dialect):  # noqa: ANN001
        return self.enum._value2member_map_.get(value, value)


class Job(SQLModel, table=True):
    """One validated request of one kind (train, sweep, walk, probe) and its live state.

    Ids are never given twice (SQLite AUTOINCREMENT, a PostgreSQL sequence), so `runs/7/`
    and notes about job 7 keep their meaning after job 7 is deleted. `uid` names the job
    for good: its run folder and checkpoints carry it (`aetui.run_owner`), so a job never
    adopts another job's files, even after the store is lost and ids start again.
    """

    __table_args__ = {"sqlite_autoincrement": True}

    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(default_factory=lambda: uuid4().hex, index=True, unique=True)
    kind: str = Field(index=True)
    status: JobStatus = Field(default=JobStatus.QUEUED, index=True, sa_type=StateString(JobStatus))
    spec: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    label: str = ""  # one line that says what the job is, e.g. "unet res64 builtin"
    priority: int = 0
    device: str = "auto"  # what was asked for: auto, cpu, cuda:N
    parent_id: int | None = Field(default=None, foreign_key="job.id", index=True)
    after_id: int | None = Field(default=None, foreign_key="job.id")
    group_id: int | None = Field(default=None, index=True)
    created_at: float
    started_at: float | None = None
    ended_at: float | None = None
    updated_at: float = Field(index=True)
    error: str | None = None
    # lease: who runs it now and until when the lease holds without a heartbeat
    lease_owner: str | None = None
    lease_expires: float | None = None
    cancel_requested: bool = False
    assigned_device: str | None = None  # what it runs on: "cuda:0", or "cuda:0,cuda:1" for several
    # devices it needs at once (data-parallel training, one process each); 1 for most jobs
    gpus: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # live progress, written by the running job
    step: int = 0
    total_steps: int = 0
    loss: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    # one line of progress in words: a command job's last line of output, or what another
    # job does before its first step ("preparing data 1200/2048", "building the model");
    # progress info, not a status: a step's progress clears the latter
    last_line: str | None = None
    note: str | None = None  # free text a user writes about the job (`aetui note`)


class JobTag(SQLModel, table=True):
    """A tag a user put on a job (`aetui tag`): one row a (job, tag)."""

    job_id: int = Field(foreign_key="job.id", primary_key=True)
    tag: str = Field(primary_key=True, index=True)


class Run(SQLModel, table=True):
    """What a job produced: its folder, summary metrics, artifacts and provenance."""

    id: int = Field(primary_key=True, foreign_key="job.id")
    run_dir: str  # relative to the home when inside it (a copied home stays whole); else absolute
    host: str | None = None
    device: str | None = None
    metrics: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    artifacts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    results: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    versions: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    git_commit: str | None = None


class Attempt(SQLModel, table=True):
    """One claim of a job by a worker: where it started and how it ended."""

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    number: int
    start_step: int = 0
    end_step: int | None = None
    worker: str
    host: str
    pid: int | None = None
    device: str | None = None
    started_at: float
    ended_at: float | None = None
    outcome: AttemptOutcome = Field(default=AttemptOutcome.RUNNING, sa_type=StateString(AttemptOutcome))
    error: str | None = None
    # what the attempt used, sampled by its worker: gpu_mem_peak (bytes), gpu_util_mean
    # (0..1), gpu_samples, cpu_s (user + system seconds of the job's process)
    usage: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class Setting(SQLModel, table=True):
    """Small key/value state shared by all processes (e.g. the queue being paused)."""

    key: str = Field(primary_key=True)
    value: str


class Notice(SQLModel, table=True):
    """The outbox: one row per job ending (or per finished group of jobs), written in the
    transaction that records the ending, sent by a worker at least once (`store.outbox`,
    `aetui.notify`). What the message needs is copied in, so it still reads right when the
    job is retried or deleted. No foreign key: deleting a job keeps its notice."""

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True)  # for a group: its first job
    event: str  # done, failed, cancelled, stalled (stopped for no progress), or group
    status: str  # the job's status after it (a stalled job may be queued again)
    label: str = ""
    error: str | None = None
    run_dir: str | None = None
    duration_s: float | None = None
    group_key: str | None = Field(default=None, unique=True)  # a group's message is written once
    created_at: float = Field(index=True)
    sent_at: float | None = None
    tries: int = 0
    next_try_at: float = 0.0  # claimed by a sender until then (or waiting for a retry)
    last_error: str | None = None
