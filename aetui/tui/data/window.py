"""The runs table's data: a window of rows around the cursor, and what changed.

The table never holds all jobs: it asks for `limit` rows at `offset` under the current
filter and sort (`store.queries.job_window`), and the filtered count sizes its
scrollbar. Live refresh reads only the rows whose `updated_at` moved past the newest one
seen (`store.queries.list_jobs` with `changed_since`). This module turns jobs into the
table's rows and keeps SQLAlchemy out of the first paint (`first_page`).
"""

from __future__ import annotations

from dataclasses import dataclass

from store.states import JOB_SORTS as SORT_KEYS
from store.states import STATUSES, JobStatus
from store.states import UNCHANGING_SORTS as STATIC_SORTS

from aetui.tui.data.rows import JobRow

FILTER_STATUSES = (None, *STATUSES)


@dataclass(frozen=True)
class JobQuery:
    """What the table shows: an optional status, a filter (`store.filters`: status and kind
    words, tag:NAME, lr=1e-3, heldout_mse<0.01, #ID, text) and an order. The store alone
    evaluates the filter (`store.queries`), for the window and for rows that changed."""

    status: str | None = None
    text: str = ""
    sort: str = "id"
    descending: bool = True


def _rows(jobs: list, since: dict[int, float]) -> list[JobRow]:
    """The table's rows of these jobs; `since`: when the running ones' attempts started."""
    return [JobRow.from_job(j, since.get(j.id)) for j in jobs]


def _running(jobs: list) -> list[int]:
    return [j.id for j in jobs if j.status == JobStatus.RUNNING]


def fetch_window(db, query: JobQuery, offset: int, limit: int) -> tuple[list[JobRow], int]:
    """`limit` rows from `offset` under the query, and the number of rows it matches."""
    from store.queries import job_window, running_since

    jobs, total = job_window(db, status=query.status, text=query.text, sort=query.sort,
                             descending=query.descending, offset=offset, limit=limit)
    return _rows(jobs, running_since(db, _running(jobs))), total


def first_page(db_url: str, limit: int) -> tuple[list[JobRow], int, dict[str, int], float] | None:
    """The default view's first rows, read-only with the standard library's sqlite3
    (`store.sqlite_read`, the reader `aetui runs` uses), plus the counts per status and
    the newest `updated_at`: (rows, total, counts, newest), or None when the store is not
    an SQLite file this reader knows. Importing SQLAlchemy/SQLModel takes about a second
    on a small machine; this lets the table paint before that is done."""
    import sqlite3

    from store import sqlite_read

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
        since = sqlite_read.running_since(db_url, _running(jobs))
        if since is None:
            return None
        rows = _rows(jobs, since)
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
    matched: frozenset[int] = frozenset()  # which of `rows` the query matches


CHANGES_LIMIT = 500


def fetch_changes(db, query: JobQuery, since: float) -> Changes:
    """Rows changed since `since` (newest update first), counts, and the filtered total."""
    from store.queries import count_jobs, count_matching, list_jobs, matching_ids, newest_update, running_since

    jobs = list_jobs(db, changed_since=since, limit=CHANGES_LIMIT + 1)
    rows = _rows(jobs[:CHANGES_LIMIT], running_since(db, _running(jobs[:CHANGES_LIMIT])))
    overflow = len(jobs) > CHANGES_LIMIT
    seen = newest_update(db) if overflow else max([since, *(r.updated_at for r in rows)])
    return Changes(rows=rows, seen=seen, counts=count_jobs(db), total=count_matching(db, status=query.status,
                                                                                   text=query.text),
                   overflow=overflow, matched=frozenset(matching_ids(db, [r.id for r in rows], status=query.status,
                                                                     text=query.text)))
