"""The runs table's data: a window of rows from SQLite around the cursor.

The table never holds all jobs: it asks for `limit` rows at `offset` under the current
filter and sort, and the filtered count sizes its scrollbar. Live refresh reads only the
rows whose `updated_at` moved past the newest one seen (`store.queries.list_jobs`
with `changed_since`).

`store.queries.list_jobs` orders by id only and filters on the label only, so the
ordered, multi-field window query lives here (read-only, through `store.engine.read`);
it belongs in `store.queries` once that module grows an `order_by`.
"""

from __future__ import annotations

from dataclasses import dataclass

from aetui.tui.data.rows import JobRow

SORT_KEYS = ("id", "kind", "model", "res", "status", "progress", "loss", "images_per_s", "eta", "device",
             "priority")
STATIC_SORTS = {"id", "kind", "model", "res"}  # sort values that never change while a job runs
FILTER_STATUSES = (None, "queued", "running", "done", "failed", "cancelled")


@dataclass(frozen=True)
class JobQuery:
    """What the table shows: an optional status, words that must all match, and an order."""

    status: str | None = None
    text: str = ""
    sort: str = "id"
    descending: bool = True

    def matches(self, row: JobRow) -> bool:
        if self.status and row.status != self.status:
            return False
        for word in self.text.lower().split():
            if not _word_matches(word, row):
                return False
        return True


def _word_matches(word: str, row: JobRow) -> bool:
    if word.lstrip("#").isdigit() and int(word.lstrip("#")) == row.id:
        return True
    hay = " ".join([row.label, row.kind, row.status, row.model or "", row.device]).lower()
    return word in hay


def _where(q, query: JobQuery):
    from sqlalchemy import String, cast, func, or_

    from store.tables import Job

    if query.status:
        q = q.where(Job.status == query.status)
    for word in query.text.lower().split():
        conds = [func.lower(col).contains(word, autoescape=True)
                 for col in (Job.label, Job.kind, Job.status, func.coalesce(Job.assigned_device, Job.device))]
        conds.append(func.lower(cast(Job.spec["model"].as_string(), String)).contains(word, autoescape=True))
        if word.lstrip("#").isdigit():
            conds.append(Job.id == int(word.lstrip("#")))
        q = q.where(or_(*conds))
    return q


def _order(query: JobQuery):
    from sqlalchemy import Float, case, cast, func, nulls_last

    from store.tables import Job

    col = {
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
    }[query.sort]
    primary = nulls_last(col.desc() if query.descending else col.asc())
    return [primary, Job.id.desc()] if query.sort != "id" else [primary]


def fetch_window(db, query: JobQuery, offset: int, limit: int) -> tuple[list[JobRow], int]:
    """`limit` rows from `offset` under the query, and the number of rows it matches."""
    from sqlalchemy import func, select

    from store.engine import read
    from store.tables import Job

    rows_q = _where(select(Job), query).order_by(*_order(query)).offset(max(0, offset)).limit(limit)
    with read(db) as s:
        total = s.execute(_where(select(func.count()).select_from(Job), query)).scalar_one()
        jobs = list(s.execute(rows_q).scalars())
    return [JobRow.from_job(j) for j in jobs], int(total)


def count_matching(db, query: JobQuery) -> int:
    from sqlalchemy import func, select

    from store.engine import read
    from store.tables import Job

    with read(db) as s:
        return int(s.execute(_where(select(func.count()).select_from(Job), query)).scalar_one())


def newest_update(db) -> float:
    """The largest `updated_at` in the store: where live refresh starts reading."""
    from sqlalchemy import func, select

    from store.engine import read
    from store.tables import Job

    with read(db) as s:
        return float(s.execute(select(func.max(Job.updated_at))).scalar_one() or 0.0)


def first_page(db_url: str, limit: int) -> tuple[list[JobRow], int, dict[str, int], float] | None:
    """The default view's first rows, read-only with the standard library's sqlite3
    (`store.sqlite_read`, the reader `aetui runs` uses), plus the counts per status and
    the newest `updated_at`: (rows, total, counts, newest), or None when the store is not
    an SQLite file this reader knows. Importing SQLAlchemy/SQLModel takes about a second
    on a small machine; this lets the table paint before that is done."""
    import sqlite3

    try:
        from store import sqlite_read
    except ImportError:
        return None
    path = sqlite_read.sqlite_path(db_url)
    if path is None or not path.is_file():
        return None
    jobs = sqlite_read.list_jobs(db_url, limit=limit)
    if jobs is None:
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            counts = {st: n for st, n in con.execute("SELECT status, count(*) FROM job GROUP BY status")}
            seen = con.execute("SELECT max(updated_at) FROM job").fetchone()[0] or 0.0
        finally:
            con.close()
        rows = [JobRow.from_job(j) for j in jobs]
    except (sqlite3.Error, AttributeError, KeyError, TypeError):
        return None
    return rows, sum(counts.values()), counts, float(seen)


@dataclass(frozen=True)
class Changes:
    rows: list[JobRow]
    seen: float  # the newest updated_at now seen
    counts: dict[str, int]  # jobs per status, all jobs
    total: int  # rows matching the query
    overflow: bool  # too many changes to patch in place: reload the window


CHANGES_LIMIT = 500


def fetch_changes(db, query: JobQuery, since: float) -> Changes:
    """Rows changed since `since` (newest update first), counts, and the filtered total."""
    from store.queries import count_jobs, list_jobs

    jobs = list_jobs(db, changed_since=since, limit=CHANGES_LIMIT + 1)
    rows = [JobRow.from_job(j) for j in jobs[:CHANGES_LIMIT]]
    overflow = len(jobs) > CHANGES_LIMIT
    seen = newest_update(db) if overflow else max([since, *(r.updated_at for r in rows)])
    return Changes(rows=rows, seen=seen, counts=count_jobs(db), total=count_matching(db, query),
                   overflow=overflow)
