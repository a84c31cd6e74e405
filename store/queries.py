"""Read-only queries shared by the CLI, the dashboard and the worker."""

from __future__ import annotations

from sqlalchemy import ARRAY, Float, String, and_, case, cast, exists, func, literal, nulls_last, or_, select
from sqlalchemy.engine import Engine

from store.engine import read
from store.queue import PAUSED_KEY, QueueError
from store.runnable import BEST_FIRST, may_run
from store.states import AttemptOutcome, JobStatus
from store.tables import Attempt, Job, JobTag, Run, Setting


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


def running_since(db: Engine, job_ids: list[int]) -> dict[int, float]:
    """When the running attempt of each of these jobs started (jobs without one left out).
    A running job's time so far counts from there: `Job.started_at` is its first start,
    before any retry or requeue."""
    if not job_ids:
        return {}
    with read(db) as s:
        rows = s.execute(select(Attempt.job_id, func.max(Attempt.started_at))
                         .where(Attempt.job_id.in_(job_ids), Attempt.outcome == AttemptOutcome.RUNNING)
                         .group_by(Attempt.job_id)).all()
    return {int(job_id): float(started) for job_id, started in rows}


def list_jobs(db: Engine, *, status: str | None = None, kind: str | None = None, limit: int | None = None,
              offset: int = 0, changed_since: float | None = None, text: str | None = None) -> list[Job]:
    """Jobs newest first, optionally filtered (`text`: a filter, `store.filters`);
    `changed_since` returns only rows updated after it."""
    q = select(Job).order_by(Job.id.desc())
    if status:
        q = q.where(Job.status == status)
    if kind:
        q = q.where(Job.kind == kind)
    if changed_since is not None:
        q = q.where(Job.updated_at > changed_since)
    if text:
        q = _matching(q, None, text, db.dialect.name)
    if offset:
        q = q.offset(offset)
    if limit is not None:
        q = q.limit(limit)
    with read(db) as s:
        return list(s.execute(q).scalars())


def job_window(db: Engine, *, status: str | None = None, text: str = "", sort: str = "id",
               descending: bool = True, offset: int = 0, limit: int = 100) -> tuple[list[Job], int]:
    """`limit` jobs from `offset` in the order `sort` (one of `states.JOB_SORTS`; ties
    newest first, missing values last), and how many match. `text`: words that must all
    appear (any case, literally) in the label, kind, status, device or model, or `#ID`."""
    dialect = db.dialect.name
    rows_q = _matching(select(Job), status, text, dialect).order_by(*_sort_columns(sort, descending))
    with read(db) as s:
        total = s.execute(_matching(select(func.count()).select_from(Job), status, text, dialect)).scalar_one()
        jobs = list(s.execute(rows_q.offset(max(0, offset)).limit(limit)).scalars())
    return jobs, int(total)


def count_matching(db: Engine, *, status: str | None = None, text: str = "") -> int:
    with read(db) as s:
        return int(s.execute(_matching(select(func.count()).select_from(Job), status, text,
                                       db.dialect.name)).scalar_one())


def matching_ids(db: Engine, job_ids: list[int], *, status: str | None = None, text: str = "") -> set[int]:
    """Which of these jobs the filter matches (the table asks this of the rows that changed)."""
    if not job_ids:
        return set()
    q = _matching(select(Job.id).where(Job.id.in_(job_ids)), status, text, db.dialect.name)
    with read(db) as s:
        return set(s.execute(q).scalars())


def newest_update(db: Engine) -> float:
    """The largest `updated_at` in the store: where reading only what changed starts."""
    with read(db) as s:
        return float(s.execute(select(func.max(Job.updated_at))).scalar_one() or 0.0)


def _matching(q, status: str | None, text: str, dialect: str = "sqlite"):
    """The filter (`store.filters`) as WHERE conditions, every term must hold."""
    from store.filters import parse

    if status:
        q = q.where(Job.status == status)
    for term in parse(text):
        q = q.where(_condition(term, dialect))
    return q


def _condition(term, dialect: str):
    if term.what == "status":
        return Job.status == term.value
    if term.what == "kind":
        return Job.kind == term.value
    if term.what == "tag":
        return exists().where(JobTag.job_id == Job.id, JobTag.tag == term.value)
    if term.what == "compare":
        return _compare(term, dialect)
    word = term.value  # `#12` matches job 12 and text with "#12" (sweeps of #12), as it did
    conds = [func.lower(col).contains(word, autoescape=True)
             for col in (Job.label, Job.kind, func.coalesce(Job.assigned_device, Job.device),
                         func.coalesce(Job.note, ""))]
    conds.append(func.lower(cast(Job.spec["model"].as_string(), String)).contains(word, autoescape=True))
    if term.what == "id":
        conds.append(Job.id == int(word.lstrip("#")))
    return or_(*conds)


def _compare(term, dialect: str):
    """A setting of the spec, a model option or a run metric, compared with the value:
    as numbers when the value is one, else as text (`model=unet`, `skips=true`)."""
    metric = select(Run.metrics).where(Run.id == Job.id).correlate(Job).scalar_subquery()
    places = [(Job.spec, (term.key,)), (Job.spec, ("options", term.key)), (metric, (term.key,))]
    number = term.number
    if number is not None:
        value = func.coalesce(*(_json_number(col, path, dialect) for col, path in places))
        target = number
    else:
        value = func.coalesce(*(_json_text(col, path, dialect) for col, path in places))
        target = term.value.lower()
        value = func.lower(value)
    ops = {"=": value == target, "!=": value != target, "<": value < target, "<=": value <= target,
           ">": value > target, ">=": value >= target}
    return and_(value.is_not(None), ops[term.op])


def _json_number(col, path: tuple[str, ...], dialect: str):
    """The JSON value at `path` when it is a number, else NULL (never a cast error)."""
    if dialect == "sqlite":
        where = "$." + ".".join(f'"{p}"' for p in path)
        return case((func.json_type(col, where).in_(("integer", "real")), func.json_extract(col, where)), else_=None)
    elem = col.op("#>")(literal(list(path), ARRAY(String)))
    text = col.op("#>>")(literal(list(path), ARRAY(String)))
    return case((func.json_typeof(elem) == "number", cast(text, Float)), else_=None)


def _json_text(col, path: tuple[str, ...], dialect: str):
    """The JSON value at `path` as text (true/false for booleans), NULL when absent."""
    if dialect == "sqlite":
        where = "$." + ".".join(f'"{p}"' for p in path)
        kind = func.json_type(col, where)
        return case((kind == "true", "true"), (kind == "false", "false"),
                    (kind.in_(("integer", "real", "text")), cast(func.json_extract(col, where), String)), else_=None)
    return col.op("#>>")(literal(list(path), ARRAY(String)))


def _sort_columns(sort: str, descending: bool) -> list:
    columns = {
        "id": Job.id,
        "kind": Job.kind,
        "model": Job.spec["model"].as_string(),
        "res": Job.spec["res"].as_integer(),
        "status": Job.status,
        "progress": case((Job.total_steps > 0, cast(Job.step, Float) / Job.total_steps), else_=0.0),
        "loss": Job.loss,
        "images_per_s": Job.images_per_s,
        "eta": Job.eta_s,
        "device": func.coalesce(Job.assigned_device, Job.device),
        "priority": Job.priority,
    }
    if sort not in columns:
        raise QueueError(f"cannot sort jobs by {sort!r}; choose one of {', '.join(columns)}")
    col = columns[sort]
    primary = nulls_last(col.desc() if descending else col.asc())
    return [primary, Job.id.desc()] if sort != "id" else [primary]


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


def dependents(db: Engine, job_id: int) -> list[int]:
    """Ids of the jobs that start from this one (its parent) or wait for it (`--after`):
    while there are any, the job cannot be deleted."""
    with read(db) as s:
        return list(s.execute(select(Job.id).where(or_(Job.parent_id == job_id, Job.after_id == job_id))
                              .order_by(Job.id)).scalars())


def runnable_count(db: Engine, *, devices: list[str], skip_kinds: tuple[str, ...] = ()) -> int:
    """Queued jobs that a worker with these devices can run, now or once the jobs they
    wait for (`--after`) are done. Jobs pinned to other devices do not count, nor do
    jobs that need more devices than it has, nor jobs behind a failed or cancelled one
    (those fail), nor jobs of `skip_kinds` (kinds the worker does not run).

    One recursive query: the jobs that fit and may run now or once a running job ends
    (`may_run`), then, chain by chain, the fitting queued jobs after those.
    """
    fits = (Job.device.in_(("auto", *devices)), Job.gpus <= len(devices), Job.kind.not_in(skip_kinds))
    chain = (may_run(select(Job.id), after_status=(JobStatus.DONE, JobStatus.RUNNING)).where(*fits)
             .cte("chain", recursive=True))
    chain = chain.union(select(Job.id).join(chain, Job.after_id == chain.c.id)
                        .where(Job.status == JobStatus.QUEUED, *fits))
    with read(db) as s:
        return int(s.execute(select(func.count()).select_from(chain)).scalar_one())


def queued_wide(db: Engine, *, max_gpus: int, skip_kinds: tuple[str, ...] = ()) -> list[Job]:
    """Queued jobs that need several devices (2..max_gpus) and may start now (their
    `--after` job is done), best first: highest priority, then oldest."""
    q = may_run(select(Job)).where(Job.gpus > 1, Job.gpus <= max_gpus, Job.kind.not_in(skip_kinds)).order_by(*BEST_FIRST)
    with read(db) as s:
        return list(s.execute(q).scalars())


def cancel_requested(db: Engine, job_ids: list[int]) -> list[int]:
    """Which of these jobs a user asked to cancel."""
    if not job_ids:
        return []
    with read(db) as s:
        return list(s.execute(select(Job.id).where(Job.id.in_(job_ids), Job.cancel_requested.is_(True))).scalars())


def is_paused(db: Engine) -> bool:
    with read(db) as s:
        row = s.get(Setting, PAUSED_KEY)
        return row is not None and row.value == "1"


def tags_for(db: Engine, job_ids: list[int]) -> dict[int, list[str]]:
    """The tags of these jobs, sorted, by job id (jobs without tags are absent)."""
    if not job_ids:
        return {}
    out: dict[int, list[str]] = {}
    with read(db) as s:
        for job_id, tag in s.execute(select(JobTag.job_id, JobTag.tag).where(JobTag.job_id.in_(job_ids))
                                     .order_by(JobTag.job_id, JobTag.tag)):
            out.setdefault(job_id, []).append(tag)
    return out
