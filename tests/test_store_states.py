"""Job statuses and attempt outcomes: enum members that are, and print as, the strings the
store holds, on every Python aetui supports and every backend."""

from __future__ import annotations

import json

import pytest

from store import open_db, queries, queue, sqlite_read
from store.states import ACTIVE, FINISHED, OUTCOMES, STATUSES, AttemptOutcome, JobStatus, ValueStrEnum


class Fallback(ValueStrEnum):
    """What the states are built on under Python 3.10 (no enum.StrEnum there)."""

    DONE = "done"


@pytest.mark.parametrize("member", [JobStatus.DONE, AttemptOutcome.DONE, Fallback.DONE])
def test_a_state_formats_as_its_value_everywhere(member):
    assert str(member) == "done"
    assert f"{member}" == "done"
    assert f"job 3 is {member}." == "job 3 is done."
    assert format(member) == "done" and format(member, ">6") == "  done"
    assert "%s" % member == "done"
    assert json.dumps({member: member}) == '{"done": "done"}'
    assert member == "done" and "done" == member
    assert {"done": 1}[member] == 1 and member in ("queued", "done")


def test_stored_strings_never_change():
    """These values are in databases: renaming one would strand every row holding it."""
    assert [s.value for s in STATUSES] == ["queued", "running", "done", "failed", "cancelled"]
    assert ACTIVE == ("queued", "running")
    assert FINISHED == ("done", "failed", "cancelled")
    assert [o.value for o in OUTCOMES] == ["running", "done", "failed", "cancelled", "requeued", "lost"]


def test_the_store_reads_back_members_that_print_as_their_value(backend_url):
    db = open_db(backend_url)
    (job,) = queue.enqueue_many(db, [{"kind": "train", "spec": {}}], run_root="/runs")
    queue.claim(db, worker="h:1", host="h", pid=1, device="cpu")
    queue.finish(db, job_id=job.id, worker="h:1", status=JobStatus.DONE)
    read = queries.get_job(db, job.id)
    assert read.status is JobStatus.DONE and f"{read.status}" == "done"
    (attempt,) = queries.attempts(db, job.id)
    assert attempt.outcome is AttemptOutcome.DONE and f"{attempt.outcome}" == "done"
    assert queries.count_jobs(db) == {"done": 1}
    if db.dialect.name == "sqlite":  # the raw column holds the plain string
        with db.connect() as c:
            assert c.exec_driver_sql("SELECT status FROM job").scalar() == "done"
        (light,) = sqlite_read.list_jobs(backend_url)
        assert light.status == JobStatus.DONE


def test_every_status_has_one_look_for_the_cli_and_the_dashboard():
    from aetui.status_style import LOOKS, colour, job_table_css

    assert set(LOOKS) == set(STATUSES)
    css = job_table_css()
    for status in STATUSES:
        assert f".job-table--{status} {{ color: ${LOOKS[status].theme};" in css
        assert colour(status) == LOOKS[status].colour
    assert colour(AttemptOutcome.DONE) == LOOKS[JobStatus.DONE].colour  # an attempt's outcome: the same colour
    assert colour(AttemptOutcome.LOST) == ""


def test_strings_outside_the_enum_pass_as_before(backend_url):
    """A filter on a status no job has matches nothing (no error), and a value this version
    does not know (written by a newer one) still reads, as the plain string."""
    from sqlalchemy import update

    from store.tables import Job

    db = open_db(backend_url)
    (job,) = queue.enqueue_many(db, [{"kind": "train", "spec": {}}], run_root="/runs")
    assert queries.list_jobs(db, status="paused") == [] and queries.count_matching(db, status="paused") == 0
    with db.begin() as c:
        c.execute(update(Job).where(Job.id == job.id).values(status="paused"))
    assert queries.get_job(db, job.id).status == "paused"
