"""Read-only queries shared by the CLI, the dashboard and the worker."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.engine import read
from store.queue import PAUSED_KEY, QueueError
from store.tables import Attempt, Job, Run, Setting


def get_job(db: Engine, job_id: int) -> Job:
    with read(db) as s:
        job = s.get(Job, job_id)
        if job is None:
            raise QueueError(f"no job {job_id}")
        return job


def get_run(db: Engine, job_id: int) -> Run | None:
    with read(db) as s:
        return s.get(Run, job_id)


def attempts(db: Engine, job_id: int) -> list[Attempt]:
    with read(db) as s:
        return list(s.execute(select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number)).scalars())


def list_jobs(db: Engine, *, status: str | None = None, kind: str | None = None, limit: int | None = None,
              offset: int = 0, changed_since: float | None = None, text: str | None = None) -> list[Job]:
    """Jobs newest first, optionally filtered; `changed_since` returns only rows updated after it."""
    q = select(Job).order_by(Job.id.desc())
    if status:
        q = q.where(Job.status == status)
    if kind:
        q = q.where(Job.kind == kind)
    if changed_since is not None:
        q = q.where(Job.updated_at > changed_since)
    if text:
        q = q.where(Job.label.contains(text))
    if offset:
        q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    with read(db) as s:
        return list(s.execute(q).scalars())


def count_jobs(db: Engine, *, status: str | None = None) -> dict[str, int]:
    """Number of jobs per status."""
    q = select(Job.status, func.count()).group_by(Job.status)
    with read(db) as s:
        return {st: n for st, n in s.execute(q).all()}


def runs_for(db: Engine, job_ids: list[int]) -> dict[int, Run]:
    if not job_ids:
        return {}
    with read(db) as s:
        return {r.id: r for r in s.execute(select(Run).where(Run.id.in_(job_ids))).scalars()}


def children(db: Engine, job_id: int) -> list[Job]:
    with read(db) as s:
        return list(s.execute(select(Job).where(Job.parent_id == job_id).order_by(Job.id)).scalars())


def is_paused(db: Engine) -> bool:
    with read(db) as s:
        row = s.get(Setting, PAUSED_KEY)
        return row is not None and row.value == "1"
