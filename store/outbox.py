"""The outbox of job endings (`tables.Notice`): claimed and marked by the workers that
send them (`aetui.notify.sender`), read by the dashboard for its toasts.

Whoever records an ending writes its notice in the same transaction (`store.queue`), so an
ending is never recorded without its notice, nor the other way round. A sender claims due
notices for a while (`next_try_at`), sends them, and marks them sent; a sender that dies
mid-way leaves them to be claimed again when the claim runs out: each is sent at least once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from store.engine import read, write
from store.states import FINISHED, NoticeEvent
from store.tables import Job, Notice

GROUP_EVENT = NoticeEvent.GROUP


def claim(db: Engine, *, hold_s: float, max_tries: int, limit: int = 20, oldest: float = 0.0) -> list[Notice]:
    """Up to `limit` unsent notices that are due, each held for `hold_s` (no other sender
    takes it meanwhile) and counted as one more try. Notices made before `oldest` are
    not sent any more (a worker started a week after the jobs ended says nothing)."""
    now = time.time()
    due = (select(Notice.id).where(Notice.sent_at.is_(None), Notice.next_try_at <= now, Notice.tries < max_tries,
                                   Notice.created_at >= oldest)
           .order_by(Notice.id).limit(limit).with_for_update(skip_locked=True))
    with write(db) as s:
        ids = list(s.execute(due).scalars())
        if not ids:
            return []
        s.execute(update(Notice).where(Notice.id.in_(ids))
                  .values(next_try_at=now + hold_s, tries=Notice.tries + 1)
                  .execution_options(synchronize_session=False))
        rows = list(s.execute(select(Notice).where(Notice.id.in_(ids)).order_by(Notice.id)).scalars())
        for row in rows:
            s.expunge(row)
        return rows


def has_due(db: Engine, *, max_tries: int, oldest: float = 0.0) -> bool:
    """Anything to send now (a read, no write lock: asked every poll)."""
    now = time.time()
    with read(db) as s:
        return s.execute(select(Notice.id).where(Notice.sent_at.is_(None), Notice.next_try_at <= now,
                                                 Notice.tries < max_tries, Notice.created_at >= oldest)
                         .limit(1)).first() is not None


def mark_sent(db: Engine, notice_id: int) -> None:
    with write(db) as s:
        s.execute(update(Notice).where(Notice.id == notice_id).values(sent_at=time.time(), last_error=None))


def mark_failed(db: Engine, notice_id: int, error: str, retry_in_s: float) -> None:
    """A try failed: said in `last_error` (already redacted by the caller), tried again later."""
    with write(db) as s:
        s.execute(update(Notice).where(Notice.id == notice_id)
                  .values(last_error=error[:2000], next_try_at=time.time() + retry_in_s))


@dataclass(frozen=True)
class Group:
    """Jobs that end together: a grid (one `group_id`) and the jobs chained to it by
    `--after`, both ways."""

    jobs: list[tuple[int, str, str]]  # (id, status, label), by id

    @property
    def ended(self) -> bool:
        return all(status in FINISHED for _, status, _ in self.jobs)

    @property
    def key(self) -> str:
        """Names this set of jobs: a chain grown after its message gets a message of its own."""
        ids = [i for i, _, _ in self.jobs]
        return f"{min(ids)}-{max(ids)}:{len(ids)}"


def group_of(db: Engine, job_id: int, limit: int = 10_000) -> Group:
    """The grid and `--after` chain `job_id` belongs to (just itself when alone)."""
    ids: set[int] = {job_id}
    with read(db) as s:
        while True:
            groups = select(Job.group_id).where(Job.id.in_(ids), Job.group_id.is_not(None))
            afters = select(Job.after_id).where(Job.id.in_(ids), Job.after_id.is_not(None))
            found = set(s.execute(select(Job.id).where(or_(
                Job.id.in_(ids), Job.group_id.in_(groups), Job.after_id.in_(ids), Job.id.in_(afters),
                Job.id.in_(select(Job.group_id).where(Job.after_id.in_(ids), Job.group_id.is_not(None))),
            )).limit(limit)).scalars())
            if found <= ids or len(ids) >= limit:
                break
            ids |= found
        rows = s.execute(select(Job.id, Job.status, Job.label).where(Job.id.in_(ids)).order_by(Job.id)).all()
    return Group([(i, str(st), lb or "") for i, st, lb in rows])


def add_group_notice(db: Engine, group: Group, *, status: str, label: str, error: str | None,
                     duration_s: float | None) -> bool:
    """The group's one notice; False when it was written already (by this or another
    sender: `group_key` is unique)."""
    try:
        with write(db) as s:
            s.add(Notice(job_id=group.jobs[0][0], event=GROUP_EVENT, status=status, label=label, error=error,
                         duration_s=duration_s, group_key=group.key, created_at=time.time()))
    except IntegrityError:
        return False
    return True


def group_times(db: Engine, ids: list[int]) -> tuple[float | None, float | None]:
    """When the first of these jobs started and the last ended."""
    with read(db) as s:
        return tuple(s.execute(select(func.min(Job.started_at), func.max(Job.ended_at))
                               .where(Job.id.in_(ids))).one())  # type: ignore[return-value]


def prune(db: Engine, *, before: float) -> int:
    """Delete the notices made before `before` (sent or not: old news); how many."""
    from sqlalchemy import delete

    with read(db) as s:  # most starts find nothing: no write lock then
        if s.execute(select(Notice.id).where(Notice.created_at < before).limit(1)).first() is None:
            return 0
    with write(db) as s:
        return s.execute(delete(Notice).where(Notice.created_at < before)).rowcount


def newest_id(db: Engine) -> int:
    with read(db) as s:
        return s.execute(select(func.max(Notice.id))).scalar() or 0


def since(db: Engine, after_id: int, limit: int = 50) -> list[Notice]:
    """Notices newer than `after_id`, oldest first (the dashboard's toasts)."""
    with read(db) as s:
        rows = list(s.execute(select(Notice).where(Notice.id > after_id).order_by(Notice.id).limit(limit)).scalars())
        for row in rows:
            s.expunge(row)
        return rows


__all__ = ["claim", "has_due", "prune", "mark_sent", "mark_failed", "group_of", "add_group_notice", "group_times",
           "newest_id", "since", "Group", "GROUP_EVENT"]
