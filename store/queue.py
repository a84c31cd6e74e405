"""The queue operations: every change of a job's state is one function here.

Claiming is one atomic step (a single UPDATE ... WHERE id = (SELECT ...) RETURNING inside a
write transaction), so two workers can never take the same job. On PostgreSQL, where
transactions run side by side, the rows a change reads are locked first (FOR UPDATE, SKIP
LOCKED where another worker may take the next row instead); SQLite ignores those clauses,
its write transactions being one at a time already.
"""

from __future__ import annotations

import time
from typing import Any, Callable
from uuid import uuid4

from sqlalchemy import and_, case, delete as sql_delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import aliased

from aetui import run_layout
from store.engine import read, write
from store.ids import raise_floor
from store.runnable import BEST_FIRST, may_run
from store.states import OWN_OUTPUT_KINDS, STARTING, AttemptOutcome, JobStatus
from store.tables import FINISHED, Attempt, Job, JobTag, Notice, Run, Setting

LEASE_S = 60.0
PAUSED_KEY = "queue_paused"
ENDINGS = (*FINISHED, JobStatus.QUEUED)  # what `finish` may set: a final status, or back to the queue


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
    id_floor: int = 0,
    prepare: Callable[[list[Job]], None] | None = None,
) -> list[Job]:
    """Add jobs (each with its run row, folder `run_root/<id>`) in one transaction.

    Each row gives kind, spec, label and optionally total_steps. More than one row makes
    a group: `group_id` is the first job's id. `id_floor`: the new ids are above it (the
    highest run folder there is, `store.ids`). `prepare(jobs)` runs before the commit,
    when the ids are known and no worker can claim the jobs yet (it writes the snapshots
    of a job's own code into its run folder); if it raises, nothing is queued.
    """
    now = time.time()
    with write(db) as s:
        raise_floor(s, id_floor)
        for ref, what in ((parent_id, "parent"), (after_id, "--after")):
            if ref is not None and s.get(Job, ref) is None:
                raise QueueError(f"{what} job {ref} does not exist")
        dep = s.get(Job, after_id) if after_id is not None else None
        if dep is not None and dep.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise QueueError(f"--after job {after_id} is {dep.status}, so this job could never run; "
                             f"retry it first (`aetui retry {after_id}`)")
        values = [dict(uid=uuid4().hex, kind=row["kind"], spec=row["spec"], label=row.get("label", ""),
                       total_steps=row.get("total_steps", 0), gpus=row.get("gpus", 1), priority=priority,
                       device=device, parent_id=parent_id, after_id=after_id, created_at=now, updated_at=now)
                  for row in rows]
        if not values:
            return []
        # a grid is one multi-row INSERT ... RETURNING per table (a flush per job took
        # seconds for a thousand); the first job's id names the group, so it goes first
        (first,) = s.scalars(insert(Job).returning(Job), values[:1]).all()
        if len(values) > 1:
            first.group_id = first.id
            rest = [{**v, "group_id": first.id} for v in values[1:]]
            jobs = [first, *s.scalars(insert(Job).returning(Job, sort_by_parameter_order=True), rest).all()]
        else:
            jobs = [first]
        s.execute(insert(Run), [dict(id=j.id, run_dir=str(run_layout.run_dir(run_root, j.id)), metrics={}, artifacts={},
                                     results={}, versions={}) for j in jobs])
        if prepare is not None:
            prepare(jobs)
    return jobs


def claim(db: Engine, *, worker: str, host: str, pid: int | None, device: str | None = None,
          job_id: int | None = None, devices: list[str] | None = None, min_gpus: int = 1,
          skip_kinds: tuple[str, ...] = ()) -> Job | None:
    """Take the best queued job this device may run, or None.

    The best job: highest priority, then oldest; only jobs asking for `auto` or this
    device; only jobs whose `--after` job is done; nothing while the queue is paused.
    `job_id` claims that job only (a foreground run), paused queue or not.

    `devices`: the free devices (instead of one `device`), best first: a job that needs
    several (`Job.gpus`) fits when that many are free and gets the first ones; a job
    pinned to one of them gets that one. `min_gpus`: only jobs that need at least that
    many (the worker holds devices back for a starving wide job, `aetui.worker.scheduling`).
    `assigned_device` (and the attempt's and run's device) is the comma list it got.
    `skip_kinds`: job kinds this worker does not run (command jobs, on a shared store,
    unless the worker allows them).
    """
    now = time.time()
    free = list(devices) if devices else [device]
    with write(db) as s:
        if job_id is None and _paused(s):
            return None
        candidate = (
            may_run(select(Job.id))
            .order_by(*BEST_FIRST)
            .limit(1)
            .with_for_update(skip_locked=True, of=Job)  # PostgreSQL: concurrent claims pass each other
        )
        if job_id is not None:
            candidate = candidate.where(Job.id == job_id)
            assigned = free[0]
        else:
            candidate = candidate.where(Job.gpus >= min_gpus, Job.kind.not_in(skip_kinds), or_(
                and_(Job.device == "auto", Job.gpus <= len(free)), Job.device.in_(free)))
            assigned = _placement(free)
        job_id = s.execute(
            update(Job)
            .where(Job.id == candidate.scalar_subquery(), Job.status == JobStatus.QUEUED)
            .values(
                status=JobStatus.RUNNING, lease_owner=worker, lease_expires=now + LEASE_S,
                assigned_device=assigned, updated_at=now, cancel_requested=False,
                started_at=func.coalesce(Job.started_at, now), ended_at=None, error=None,
                last_line=case((Job.kind.in_(OWN_OUTPUT_KINDS), None), else_=STARTING),
            )
            .returning(Job.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        if job_id is None:
            return None
        job = s.get(Job, job_id, with_for_update=True)
        s.refresh(job)
        number = len(s.execute(select(Attempt.id).where(Attempt.job_id == job_id)).all()) + 1
        s.add(Attempt(job_id=job_id, number=number, start_step=job.step, worker=worker,
                      host=host, pid=pid, device=job.assigned_device, started_at=now))
        run = s.get(Run, job_id, with_for_update=True)
        if run is not None:
            run.host, run.device = host, job.assigned_device
        return job


def _placement(free: list[str]):
    """The devices a claimed job gets, as SQL on its row: the device it is pinned to, else
    the first `gpus` free ones (comma-separated)."""
    pinned = [(Job.device == d, d) for d in free]
    wide = [(Job.gpus == n, ",".join(free[:n])) for n in range(2, len(free) + 1)]
    return case(*pinned, *wide, else_=free[0])


def fail_blocked(db: Engine) -> list[int]:
    """Fail queued jobs whose `--after` job failed or was cancelled: they can never run.

    Chains fail through at once: a job after a job after a failed one fails too.
    """
    now = time.time()
    failed: list[int] = []
    after = aliased(Job)
    blocked = (select(Job.id, after.id, after.status, after.error)
               .join(after, after.id == Job.after_id)
               .where(Job.status == JobStatus.QUEUED, after.status.in_((JobStatus.FAILED, JobStatus.CANCELLED))))
    with read(db) as s:  # every worker asks every poll: no write lock unless there is work
        if not s.execute(blocked.limit(1)).first():
            return failed
    with write(db) as s:
        while True:
            rows = s.execute(blocked).all()
            if not rows:
                return failed
            for job_id, dep, dep_status, dep_error in rows:
                why = f"dependency job {dep} {dep_status}" + (f": {dep_error}" if dep_error else "")
                s.execute(update(Job).where(Job.id == job_id).values(
                    status=JobStatus.FAILED, ended_at=now, updated_at=now, error=why[:2000]))
                _notice(s, s.get(Job, job_id), JobStatus.FAILED, now)
                failed.append(job_id)


def heartbeat(db: Engine, *, worker: str, job_ids: list[int]) -> list[int]:
    """Extend the leases of these jobs; returns the ids whose cancel was requested."""
    if not job_ids:
        return []
    now = time.time()
    with write(db) as s:
        s.execute(update(Job).where(Job.id.in_(job_ids), Job.lease_owner == worker, Job.status == JobStatus.RUNNING)
                  .values(lease_expires=now + LEASE_S))
        return list(s.execute(select(Job.id).where(Job.id.in_(job_ids), Job.cancel_requested.is_(True))).scalars())


def progress(db: Engine, *, job_id: int, step: int, total_steps: int | None = None,
             loss: float | None = None, images_per_s: float | None = None, eta_s: float | None = None,
             owner: str | None = None, words_done: bool = False) -> bool:
    """Record a running job's progress. With `owner`, only while that process holds the
    lease: False means the job was taken away (requeued after its lease was lost), and
    the caller must stop without writing anything more. `words_done`: steps run now, so
    the words that said what the job did before them (`last_line`) go."""
    values: dict[str, Any] = {"step": step, "updated_at": time.time()}
    if words_done:
        values["last_line"] = None
    else:  # whoever reports steps, the claim's `starting` is over
        values["last_line"] = case((Job.last_line == STARTING, None), else_=Job.last_line)
    if total_steps is not None:
        values["total_steps"] = total_steps
    if loss is not None:
        values["loss"] = loss
    if images_per_s is not None:
        values["images_per_s"] = images_per_s
    if eta_s is not None:
        values["eta_s"] = eta_s
    query = update(Job).where(Job.id == job_id)
    if owner is not None:
        query = query.where(Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
    with write(db) as s:
        return s.execute(query.values(**values)).rowcount > 0


def last_line(db: Engine, *, job_id: int, text: str, owner: str | None = None) -> bool:
    """A running job's line of progress in words (a command job's last line of output);
    False when `owner` no longer holds the job, as for `progress`."""
    query = update(Job).where(Job.id == job_id)
    if owner is not None:
        query = query.where(Job.lease_owner == owner, Job.status == JobStatus.RUNNING)
    with write(db) as s:
        return s.execute(query.values(last_line=text[:LAST_LINE_CHARS], updated_at=time.time())).rowcount > 0


LAST_LINE_CHARS = 200


def record_start(db: Engine, *, job_id: int, owner: str, step: int) -> bool:
    """The step the running attempt really starts from (the checkpoint it resumed),
    which can be below the last progress the lost attempt reported."""
    with write(db) as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None or job.status != JobStatus.RUNNING or job.lease_owner != owner:
            return False
        job.step, job.updated_at = step, time.time()
        s.add(job)
        attempt = _running_attempt(s, job_id)
        if attempt is not None:
            attempt.start_step = step
            s.add(attempt)
        return True


def record_pid(db: Engine, *, job_id: int, owner: str, pid: int) -> None:
    """The process that runs the attempt (a worker's child), so that a worker on this host
    can tell whether a job whose worker died is still being checkpointed by its child."""
    with write(db) as s:
        job = s.get(Job, job_id, with_for_update=True)
        attempt = _running_attempt(s, job_id) if job is not None and job.lease_owner == owner else None
        if attempt is not None:
            attempt.pid = pid
            s.add(attempt)


def record_run(db: Engine, *, job_id: int, metrics: dict | None = None, artifacts: dict | None = None,
               results: dict | None = None, versions: dict | None = None, git_commit: str | None = None,
               host: str | None = None) -> None:
    """Merge summary metrics, artifacts and results into the job's run row; `host`: the
    machine that really runs it when that is not the worker's (a Slurm node)."""
    with write(db) as s:
        run = s.get(Run, job_id, with_for_update=True)
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
        if host:
            run.host = host
        s.add(run)
        _touch(s, job_id)


def finish(db: Engine, *, job_id: int, worker: str | None, status: str, error: str | None = None,
           step: int | None = None, spec: dict[str, Any] | None = None, event: str | None = None) -> bool:
    """End the running attempt and set the job's final (or requeued) status.

    `status` is done, failed, cancelled or queued (requeue). Only the lease holder may finish
    a job (worker=None skips that check); returns False when the job was not ours. `spec`
    replaces the job's spec (a requeue that changes it, e.g. half the batch after running
    out of memory); the attempt keeps `error` as the reason. Any other `status` is a bug in
    the caller: ValueError, before anything changes.

    A final status writes a notice to the outbox (`Notice`) in the same transaction;
    `event` names one for a requeue too ("stalled": stopped for making no progress), or
    replaces the final status's name.
    """
    if status not in ENDINGS:
        raise ValueError(f"queue.finish: status must be one of {', '.join(ENDINGS)}, not {status!r}")
    now = time.time()
    with write(db) as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None or job.status != JobStatus.RUNNING or (worker is not None and job.lease_owner != worker):
            return False
        if step is not None:
            job.step = step
        if spec is not None:
            job.spec = dict(spec)
        job.status = status
        job.error = error
        job.lease_owner = job.lease_expires = None
        job.cancel_requested = False
        job.updated_at = now
        if status == JobStatus.QUEUED:
            job.assigned_device = None
        else:
            job.ended_at = now
            job.eta_s = None
        s.add(job)
        attempt = _running_attempt(s, job_id)
        if attempt is not None:
            attempt.outcome = AttemptOutcome.REQUEUED if status == JobStatus.QUEUED else status
            attempt.ended_at, attempt.end_step, attempt.error = now, job.step, error
            s.add(attempt)
        if event is not None or status != JobStatus.QUEUED:
            _notice(s, job, event or status, now)
        return True


def requeue_lost(db: Engine, *, host: str, is_alive) -> list[int]:
    """Requeue running jobs whose worker is gone; returns their ids.

    On this host at once when the lease holder's process is dead (`is_alive(pid)` False)
    and so is the attempt's child process: a child that outlived its worker got SIGTERM
    and is saving a checkpoint, after which it requeues the job itself. Anywhere when
    the lease expired without a heartbeat. A job whose cancel was asked ends cancelled.
    """
    now = time.time()
    running = select(Job).where(Job.status == JobStatus.RUNNING)
    with read(db) as s:  # every worker asks every poll: no write lock unless a job is lost
        suspects = [job.id for job in s.execute(running).scalars() if _lost_why(s, job, host, is_alive, now)]
    lost: list[int] = []
    if not suspects:
        return lost
    with write(db) as s:
        for job in s.execute(running.where(Job.id.in_(suspects)).with_for_update(skip_locked=True)).scalars().all():
            why = _lost_why(s, job, host, is_alive, now)
            if why is None:
                continue
            if job.cancel_requested:
                job.status, job.ended_at = JobStatus.CANCELLED, now
                _notice(s, job, JobStatus.CANCELLED, now)
            else:
                job.status, job.assigned_device = JobStatus.QUEUED, None
            job.lease_owner = job.lease_expires = None
            job.updated_at = now
            s.add(job)
            for a in s.execute(select(Attempt).where(Attempt.job_id == job.id, Attempt.outcome == AttemptOutcome.RUNNING)).scalars().all():
                a.outcome, a.ended_at, a.end_step, a.error = AttemptOutcome.LOST, now, job.step, why
                s.add(a)
            lost.append(job.id)
    return lost


def _lost_why(s, job: Job, host: str, is_alive, now: float) -> str | None:
    """Why a running job's worker counts as gone, or None while it may be alive."""
    if job.lease_owner is None:
        return "no lease holder"
    owner_host, _, owner_pid = job.lease_owner.rpartition(":")
    if owner_host == host and owner_pid.isdigit() and not is_alive(int(owner_pid)):
        attempt = _running_attempt(s, job.id)
        child = attempt.pid if attempt is not None and attempt.pid != int(owner_pid) else None
        if child is None or not is_alive(child):
            return "worker process gone"
    if job.lease_expires is not None and job.lease_expires < now:
        return f"lease expired (no heartbeat for {LEASE_S:.0f} s)"
    return None


def cancel(db: Engine, *, job_id: int) -> Job:
    """Cancel a queued job at once; ask the worker to stop a running one."""
    now = time.time()
    with write(db) as s:
        job = _get(s, job_id)
        if job.status == JobStatus.QUEUED:
            job.status, job.ended_at = JobStatus.CANCELLED, now
            _notice(s, job, JobStatus.CANCELLED, now)
        elif job.status == JobStatus.RUNNING:
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
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise QueueError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
        job.status, job.error, job.ended_at, job.updated_at = JobStatus.QUEUED, None, None, now
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
        run = s.get(Run, job_id, with_for_update=True)
        s.execute(sql_delete(JobTag).where(JobTag.job_id == job_id))
        for attempt in s.execute(select(Attempt).where(Attempt.job_id == job_id)).scalars().all():
            s.delete(attempt)
        if run is not None:
            s.delete(run)
        s.flush()
        s.delete(job)
        return run


def set_tags(db: Engine, *, job_id: int, add: list[str] = (), remove: list[str] = ()) -> list[str]:
    """Add and remove tags of a job (tags it has or lacks already are no error); its tags after."""
    with write(db) as s:
        _get(s, job_id)
        have = set(s.execute(select(JobTag.tag).where(JobTag.job_id == job_id)).scalars())
        new = [t for t in dict.fromkeys(add) if t not in have]
        if new:
            s.execute(insert(JobTag), [{"job_id": job_id, "tag": t} for t in new])
        if remove:
            s.execute(sql_delete(JobTag).where(JobTag.job_id == job_id, JobTag.tag.in_(list(remove))))
        _touch(s, job_id)  # the table's live refresh reads jobs whose updated_at moved
        return sorted((have | set(new)) - set(remove))


def set_note(db: Engine, *, job_id: int, note: str | None) -> Job:
    """Replace a job's note (None or empty: no note)."""
    with write(db) as s:
        job = _get(s, job_id)
        job.note, job.updated_at = (note or None), time.time()
        s.add(job)
        return job


def record_usage(db: Engine, *, job_id: int, worker: str, usage: dict[str, Any]) -> bool:
    """Store what the worker's newest attempt of the job used so far (it writes it while
    the job runs and once more when it ends, after the child recorded the outcome)."""
    with write(db) as s:
        attempt = s.execute(select(Attempt).where(Attempt.job_id == job_id, Attempt.worker == worker)
                            .order_by(Attempt.number.desc())).scalars().first()
        if attempt is None:
            return False
        attempt.usage = dict(usage)
        s.add(attempt)
        return True


def _get(s, job_id: int) -> Job:
    job = s.get(Job, job_id, with_for_update=True)
    if job is None:
        raise QueueError(f"no job {job_id}")
    return job


def _running_attempt(s, job_id: int) -> Attempt | None:
    return s.execute(select(Attempt).where(Attempt.job_id == job_id, Attempt.outcome == AttemptOutcome.RUNNING)
                     .order_by(Attempt.number.desc())).scalars().first()


def _notice(s, job: Job, event: str, now: float) -> None:
    """The job's ending, into the outbox (in the caller's transaction): a worker sends it
    (`aetui.notify`), the dashboard shows it."""
    run = s.get(Run, job.id)
    started = job.started_at
    s.add(Notice(job_id=job.id, event=str(event), status=str(job.status), label=job.label or "",
                 error=(job.error or None) and job.error[:2000], run_dir=run.run_dir if run else None,
                 duration_s=(now - started) if started else None, created_at=now))


def _touch(s, job_id: int) -> None:
    s.execute(update(Job).where(Job.id == job_id).values(updated_at=time.time()))


def _paused(s) -> bool:
    row = s.get(Setting, PAUSED_KEY)
    return row is not None and row.value == "1"


__all__ = [
    "QueueError", "enqueue_many", "claim", "heartbeat", "progress", "record_start", "record_pid", "record_run",
    "finish", "requeue_lost",
    "cancel", "retry", "set_priority", "set_paused", "delete", "fail_blocked", "set_tags", "set_note",
    "record_usage",
]
