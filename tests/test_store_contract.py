"""The store across machines: leases and history with two hosts on every backend, and
PostgreSQL's row locks (transactions there run side by side, unlike SQLite's).

The single-machine contract (claim once, leases, requeue, cancel, many processes) is
tests/test_store.py, which runs on every backend too.
"""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select, text, update

from store import open_db, queries, queue
from store.tables import Job


def add(db, n: int = 1):
    rows = [{"kind": "train", "spec": {"i": i}, "label": f"job{i}", "total_steps": 10} for i in range(n)]
    return queue.enqueue_many(db, rows, run_root="/shared/runs")


def test_two_hosts_share_one_queue_with_leases_and_history(backend_url):
    a, b = open_db(backend_url), open_db(backend_url)  # two machines, one store
    add(a, 2)
    got_a = queue.claim(a, worker="gpu-a:100", host="gpu-a", pid=100, device="cuda:0")
    got_b = queue.claim(b, worker="gpu-b:200", host="gpu-b", pid=200, device="cuda:0")
    assert {got_a.id, got_b.id} == {1, 2}
    assert queue.claim(b, worker="gpu-b:201", host="gpu-b", pid=201, device="cuda:1") is None
    queue.progress(a, job_id=got_a.id, step=4)

    # gpu-a goes silent; gpu-b cannot tell a dead pid on another host, only an expired lease
    assert queue.requeue_lost(b, host="gpu-b", is_alive=lambda pid: pid != 100) == []
    with b.begin() as c:
        c.execute(update(Job).where(Job.id == got_a.id).values(lease_expires=time.time() - 1))
    assert queue.heartbeat(b, worker="gpu-b:200", job_ids=[got_b.id]) == []
    assert queue.requeue_lost(b, host="gpu-b", is_alive=lambda pid: True) == [got_a.id]

    again = queue.claim(b, worker="gpu-b:201", host="gpu-b", pid=201, device="cuda:1")
    assert again.id == got_a.id
    assert not queue.finish(a, job_id=got_a.id, worker="gpu-a:100", status="done")  # too late
    assert queue.finish(b, job_id=got_a.id, worker="gpu-b:201", status="done")
    history = [(x.host, x.outcome, x.start_step) for x in queries.attempts(a, got_a.id)]
    assert history == [("gpu-a", "lost", 0), ("gpu-b", "done", 4)]
    assert queries.get_run(a, got_a.id).host == "gpu-b"
    assert queries.get_run(a, got_a.id).run_dir == f"/shared/runs/{got_a.id}"


def test_cancel_from_another_machine_reaches_the_worker(backend_url):
    worker, cli = open_db(backend_url), open_db(backend_url)
    add(cli, 2)
    job = queue.claim(worker, worker="gpu-a:1", host="gpu-a", pid=1, device="cpu")
    assert queue.cancel(cli, job_id=job.id).cancel_requested
    assert queue.cancel(cli, job_id=2).status == "cancelled"
    assert queue.heartbeat(worker, worker="gpu-a:1", job_ids=[job.id]) == [job.id]
    assert queue.finish(worker, job_id=job.id, worker="gpu-a:1", status="cancelled")
    assert queries.count_jobs(cli) == {"cancelled": 2}


@pytest.fixture
def pg(pg_url):
    return open_db(pg_url)


def _hold_row_lock(db, job_id: int):
    """Another transaction that has read job `job_id` for update and not yet committed."""
    conn = db.connect()
    tx = conn.begin()
    conn.execute(select(Job.id).where(Job.id == job_id).with_for_update())
    return conn, tx


def _waits_on_a_lock(db) -> bool:
    """Whether a connection of this store (its schema names its connections) waits on a lock."""
    with db.connect() as c:
        return bool(c.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                   "AND application_name = current_setting('application_name')")).scalar())


def test_the_dashboards_window_filters_and_sorts_the_same_on_every_backend(backend_url):
    """`job_window` reads JSON fields of the spec (model, res) in SQL: each dialect
    spells that differently."""
    from store.states import JOB_SORTS

    db = open_db(backend_url)
    rows = [{"kind": "train", "spec": {"model": m, "res": r}, "label": f"{m} res{r} 100%_", "total_steps": 10}
            for m, r in (("unet", 64), ("mlp", 32), ("attn-unet", 128), ("unet", 32))]
    ids = [j.id for j in queue.enqueue_many(db, rows, run_root="/shared/runs")]
    queue.progress(db, job_id=ids[1], step=5, loss=0.5)
    queue.progress(db, job_id=ids[2], step=2, loss=0.1)

    def window(**kw):
        jobs, total = queries.job_window(db, **kw)
        return [ids.index(j.id) for j in jobs], total

    assert window() == ([3, 2, 1, 0], 4)
    assert window(sort="res", descending=False) == ([3, 1, 0, 2], 4)  # ties newest first
    assert window(sort="model", descending=False) == ([2, 1, 3, 0], 4)
    assert window(sort="loss", descending=False) == ([2, 1, 3, 0], 4)  # no loss yet: last
    assert window(sort="progress") == ([1, 2, 3, 0], 4)
    assert window(text="UNET") == ([3, 2, 0], 3)  # any case; attn-unet too
    assert window(text="unet res32") == ([3], 1)
    assert window(text="0%_") == ([3, 2, 1, 0], 4) and window(text="1%") == ([], 0)  # LIKE signs are literal
    assert window(text=f"#{ids[1]}") == ([1], 1)
    assert window(offset=1, limit=2) == ([2, 1], 4)
    for key in JOB_SORTS:
        assert window(sort=key)[1] == 4
    assert queries.count_matching(db, text="mlp") == 1
    assert queries.newest_update(db) == max(j.updated_at for j in queries.list_jobs(db))
    with pytest.raises(queue.QueueError, match="cannot sort jobs by 'size'"):
        queries.job_window(db, sort="size")


def test_pg_claim_skips_a_row_another_claim_holds(pg):
    add(pg, 3)
    conn, tx = _hold_row_lock(pg, 1)
    try:
        started = time.monotonic()
        got = queue.claim(pg, worker="h:2", host="h", pid=2, device="cpu")
        assert got.id == 2 and time.monotonic() - started < 5  # neither waits nor gives up
    finally:
        tx.rollback()
        conn.close()
    assert queue.claim(pg, worker="h:3", host="h", pid=3, device="cpu").id == 1


def test_pg_requeue_never_overwrites_a_finish_in_flight(pg):
    """A worker finishing its job while another host's requeue_lost sees the lease expired:
    the requeue passes over the locked row, so the finish is not undone."""
    add(pg)
    queue.claim(pg, worker="a:1", host="a", pid=1, device="cpu")
    with pg.begin() as c:
        c.execute(update(Job).values(lease_expires=time.time() - 1))
    conn, tx = _hold_row_lock(pg, 1)  # the finishing transaction, not yet committed
    try:
        assert queue.requeue_lost(pg, host="b", is_alive=lambda pid: True) == []
    finally:
        tx.rollback()
        conn.close()
    assert queue.finish(pg, job_id=1, worker="a:1", status="done")
    assert queue.requeue_lost(pg, host="b", is_alive=lambda pid: True) == []
    assert queries.get_job(pg, 1).status == "done"


def test_pg_finish_waits_for_a_concurrent_change_then_sees_it(pg):
    """finish reads the job under a row lock: a cancel committed meanwhile is not lost."""
    add(pg)
    queue.claim(pg, worker="a:1", host="a", pid=1, device="cpu")
    conn, tx = _hold_row_lock(pg, 1)
    result = {}
    t = threading.Thread(target=lambda: result.update(ok=queue.finish(pg, job_id=1, worker="a:1", status="done")))
    t.start()
    deadline = time.monotonic() + 120  # an event, not a pause: the server says finish waits on the lock
    while not _waits_on_a_lock(pg) and t.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert t.is_alive() and _waits_on_a_lock(pg)  # blocked behind the lock
    conn.execute(update(Job).where(Job.id == 1).values(lease_owner="b:9"))  # the job was taken over
    tx.commit()
    conn.close()
    t.join(10)
    assert result == {"ok": False} and queries.get_job(pg, 1).status == "running"
