"""The queue operations: every change of a job's state is one function here.

Claiming is one atomic step (a single UPDATE ... WHERE id = (SELECT ...) RETURNING inside a
write transaction), so two workers can never take the same job.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from store.engine import write
from store.tables import FINISHED, Attempt, Job, Run, Setting

LEASE_S = 60.0
PAUSED_KEY = "queue_paused"


class QueueError(ValueError):
    """A request the queue refuses (unknown job, wrong state); its text is for the user."""


def enqueue_many(
    db: Engine,
    rows: list[dict[str, Any]],
    *,
    run_root: str,
    priority: int = 0,
    device: str = "auto",
    parent_id: int | None = None,
    after_id: int | None = None,
) -> list[Job]:
    """Add jobs (each with its run row, folder `run_root/<id>`) in one transaction.

    Each row gives kind, spec, label and optionally total_steps. More than one row makes
    a group: `group_id` is the first job's id.
    """
    now = time.time()
    jobs: list[Job] = []
    with write(db) as s:
        for ref, what in ((parent_id, "parent"), (after_id, "--after")):
            if ref is not None and s.get(Job, ref) is None:
                raise QueueError(f"{what} job {ref} does not exist")
        for row in rows:
            job = Job(
                kind=row["kind"], spec=row["spec"], label=row.get("label", ""),
                total_steps=row.get("total_steps", 0), priority=priority, device=device,
                parent_id=parent_id, after_id=after_id, created_at=now, updated_at=now,
                group_id=jobs[0].id if jobs else None,
            )
            s.add(job)
            s.flush()
            s.add(Run(id=job.id, run_dir=f"{run_root.rstrip('/')}/{job.id}"))
            jobs.append(job)
        if len(jobs) > 1:
            jobs[0].group_id = jobs[0].id
        s.flush()
        for job in jobs:
            s.refresh(job)
    return jobs


def claim(db: Engine, *, worker: str, host: str, pid: int | None, device: str,
          job_id: int | None = None) -> Job | None:
    """Take the best queued job this device may run, or None.

    The best job: highest priority, then oldest; only jobs asking for `auto` or this
    device; only jobs whose `--after` job is done; nothing while the queue is paused.
    `job_id` claims that job only (a foreground run), paused queue or not.
    """
    now = time.time()
    with write(db) as s:
        if job_id is None and _paused(s):
            return None
        after = aliased(Job)
        candidate = (
            select(Job.id)
            .outerjoin(after, after.id == Job.after_id)
            .where(Job.status == "queued")
            .where(or_(Job.after_id.is_(None), after.status == "done"))
            .order_by(Job.priority.desc(), Job.id)
            .limit(1)
        )
        if job_id is not None:
            candidate = candidate.where(Job.id == job_id)
        else:
            candidate = candidate.where(or_(Job.device == "auto", Job.device == device))
        job_id = s.execute(
            update(Job)
            .where(Job.id == candidate.scalar_subquery(), Job.status == "queued")
            .values(
                status="running", lease_owner=worker, lease_expires=now + LEASE_S,
                assigned_device=device, updated_at=now, cancel_requested=False,
                started_at=func.coalesce(Job.started_at, now), ended_at=None, error=None,
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if job_id is None:
            return None
        job = s.get(Job, job_id)
        s.refresh(job)
        number = len(s.execute(select(Attempt.id).where(Attempt.job_id == job_id)).all()) + 1
        s.add(Attempt(job_id=job_id, number=number, start_step=job.step, worker=worker,
                      host=host, pid=pid, device=device, started_at=now))
        run = s.get(Run, job_id)
        if run is not None:
            run.host, run.device = host, device
        return job


def fail_blocked(db: Engine) -> list[int]:
    """Fail queued jobs whose `--after` job failed or was cancelled: they can never run."""
    now = time.time()
    with write(db) as s:
        after = aliased(Job)
        rows = s.execute(
            select(Job.id, after.id, after.status)
            .join(after, after.id == Job.after_id)
            .where(Job.status == "queued", after.status.in_(("failed", "cancelled")))
        ).all()
        for job_id, dep, dep_status in rows:
            s.execute(update(Job).where(Job.id == job_id).values(
                status="failed", ended_at=now, updated_at=now,
                error=f"dependency job {dep} {dep_status}"))
        return [r[0] for r in rows]


def heartbeat(db: Engine, *, worker: str, job_ids: list[int]) -> list[int]:
    """Extend the leases of these jobs; returns the ids whose cancel was requested."""
    if not job_ids:
        return []
    now = time.time()
    with write(db) as s:
        s.execute(update(Job).where(Job.id.in_(job_ids), Job.lease_owner == worker, Job.status == "running")
                  .values(lease_expires=now + LEASE_S))
        return list(s.execute(select(Job.id).where(Job.id.in_(job_ids), Job.cancel_requested.is_(True))).scalars())


def progress(db: Engine, *, job_id: int, step: int, total_steps: int | None = None,
             loss: float | None = None, images_per_s: float | None = None, eta_s: float | None = None) -> None:
    values: dict[str, Any] = {"step": step, "updated_at": time.time()}
    if total_steps is not None:
        values["total_steps"] = total_steps
    if loss is not None:
        values["loss"] = loss
    if images_per_s is not None:
        values["images_per_s"] = images_per_s
    if eta_s is not None:
        values["eta_s"] = eta_s
    with write(db) as s:
        s.execute(update(Job).where(Job.id == job_id).values(**values))


def record_run(db: Engine, *, job_id: int, metrics: dict | None = None, artifacts: dict | None = None,
               results: dict | None = None, versions: dict | None = None, git_commit: str | None = None) -> None:
    """Merge summary metrics, artifacts and results into the job's run row."""
    with write(db) as s:
        run = s.get(Run, job_id)
        if run is None:
            raise QueueError(f"job {job_id} has no run")
        if metrics:
            run.metrics = {**run.metrics, **metrics}
        if artifacts:
            run.artifacts = {**run.artifacts, **artifacts}
        if results:
            run.results = {**run.results, **results}
        if versions:
            run.versions = {**run.versions, **versions}
        if git_commit:
            run.git_commit = git_commit
        s.add(run)
        _touch(s, job_id)


def finish(db: Engine, *, job_id: int, worker: str | None, status: str, error: str | None = None,
           step: int | None = None) -> bool:
    """End the running attempt and set the job's final (or requeued) status.

    `status` is done, failed, cancelled or queued (requeue). Only the lease holder may finish
    a job (worker=None skips that check); returns False when the job was not ours.
    """
    assert status in FINISHED or status == "queued"
    now = time.time()
    with write(db) as s:
        job = s.get(Job, job_id)
        if job is None or job.status != "running" or (worker is not None and job.lease_owner != worker):
            return False
        if step is not None:
            job.step = step
        job.status = status
        job.error = error
        job.lease_owner = job.lease_expires = None
        job.cancel_requested = False
        job.updated_at = now
        if status == "queued":
            job.assigned_device = None
        else:
            job.ended_at = now
            job.eta_s = None
        s.add(job)
        attempt = s.execute(select(Attempt).where(Attempt.job_id == job_id, Attempt.outcome == "running")
                            .order_by(Attempt.number.desc())).scalars().first()
        if attempt is not None:
            attempt.outcome = "requeued" if status == "queued" else status
            attempt.ended_at, attempt.end_step, attempt.error = now, job.step, error
            s.add(attempt)
        return True


def requeue_lost(db: Engine, *, host: str, is_alive) -> list[int]:
    """Requeue running jobs whose worker is gone: on this host when its process is dead
    (`is_alive(pid)` False), anywhere when the lease expired without a heartbeat."""
    now = time.time()
    lost: list[int] = []
    with write(db) as s:
        for job in s.execute(select(Job).where(Job.status == "running")).scalars().all():
            owner_host, _, owner_pid = (job.lease_owner or "").rpartition(":")
            dead_here = owner_host == host and owner_pid.isdigit() and not is_alive(int(owner_pid))
            expired = job.lease_expires is not None and job.lease_expires < now
            if not (dead_here or expired or job.lease_owner is None):
                continue
            why = "worker process gone" if dead_here else "lease expired"
            if job.cancel_requested:
                job.status, job.ended_at = "cancelled", now
            else:
                job.status, job.assigned_device = "queued", None
            job.lease_owner = job.lease_expires = None
            job.updated_at = now
            s.add(job)
            for attempt in s.execute(select(Attempt).where(Attempt.job_id == job.id, Attempt.outcome == "running")).scalars().all():
                attempt.outcome, attempt.ended_at, attempt.end_step, attempt.error = "lost", now, job.step, why
                s.add(attempt)
            lost.append(job.id)
    return lost


def cancel(db: Engine, *, job_id: int) -> Job:
    """Cancel a queued job at once; ask the worker to stop a running one."""
    now = time.time()
    with write(db) as s:
        job = _get(s, job_id)
        if job.status == "queued":
            job.status, job.ended_at = "cancelled", now
        elif job.status == "running":
            job.cancel_requested = True
        else:
            raise QueueError(f"job {job_id} is {job.status}; only queued or running jobs can be cancelled")
        job.updated_at = now
        s.add(job)
        s.flush()
        s.refresh(job)
        return job


def retry(db: Engine, *, job_id: int) -> Job:
    """Put a failed or cancelled job back in the queue; it resumes from its last checkpoint."""
    now = time.time()
    with write(db) as s:
        job = _get(s, job_id)
        if job.status not in ("failed", "cancelled"):
            raise QueueError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
        job.status, job.error, job.ended_at, job.updated_at = "queued", None, None, now
        s.add(job)
        s.flush()
        s.refresh(job)
        return job


def set_priority(db: Engine, *, job_id: int, priority: int) -> Job:
    with write(db) as s:
        job = _get(s, job_id)
        job.priority, job.updated_at = priority, time.time()
        s.add(job)
        return job


def set_paused(db: Engine, paused: bool) -> None:
    with write(db) as s:
        row = s.get(Setting, PAUSED_KEY) or Setting(key=PAUSED_KEY, value="0")
        row.value = "1" if paused else "0"
        s.add(row)


def delete(db: Engine, *, job_id: int) -> Run | None:
    """Delete a finished job with its run and attempts; returns the run (its folder is the caller's)."""
    with write(db) as s:
        job = _get(s, job_id)
        if job.status not in FINISHED:
            raise QueueError(f"job {job_id} is {job.status}; cancel it before deleting")
        children = s.execute(select(Job.id).where(or_(Job.parent_id == job_id, Job.after_id == job_id))).scalars().all()
        if children:
            raise QueueError(f"job {job_id} has dependent jobs {', '.join(map(str, children))}; delete those first")
        run = s.get(Run, job_id)
        for attempt in s.execute(select(Attempt).where(Attempt.job_id == job_id)).scalars().all():
            s.delete(attempt)
        if run is not None:
            s.delete(run)
        s.flush()
        s.delete(job)
        return run


def _get(s, job_id: int) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise QueueError(f"no job {job_id}")
    return job


def _touch(s, job_id: int) -> None:
    s.execute(update(Job).where(Job.id == job_id).values(updated_at=time.time()))


def _paused(s) -> bool:
    row = s.get(Setting, PAUSED_KEY)
    return row is not None and row.value == "1"


__all__ = [
    "QueueError", "enqueue_many", "claim", "heartbeat", "progress", "record_run", "finish", "requeue_lost",
    "cancel", "retry", "set_priority", "set_paused", "delete", "fail_blocked",
]
