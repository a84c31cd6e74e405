"""Which queued job may run now, written once as SQL: the claim (`queue.claim`), the
count of work a worker can do (`queries.runnable_count`) and the wide jobs the worker
holds devices back for (`queries.queued_wide`) all build on `may_run`.

A job may run now when it is queued and the job it waits for (`--after`), if any, is
done; the best one has the highest priority, then is the oldest (`BEST_FIRST`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, or_
from sqlalchemy.orm import aliased

from store.states import JobStatus
from store.tables import Job

BEST_FIRST = (Job.priority.desc(), Job.id)


def may_run(query: Select, *, after_status: Sequence[JobStatus] = (JobStatus.DONE,)) -> Select:
    """`query` (a select from Job) narrowed to the queued jobs whose `--after` job is done.

    `after_status`: the states of the `--after` job that count as met; `runnable_count`
    adds RUNNING, since a running job will end and let the jobs after it start.
    """
    after = aliased(Job)
    return (query.outerjoin(after, after.id == Job.after_id)
            .where(Job.status == JobStatus.QUEUED)
            .where(or_(Job.after_id.is_(None), after.status.in_(tuple(after_status)))))
