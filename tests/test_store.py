"""The store's contract: lifecycle, atomic claims, leases, dependencies, pragmas."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import time
from pathlib import Path

import pytest

from store import open_db, queries, queue
from store.queue import QueueError


@pytest.fixture
def db(backend_url: str):
    """A fresh store of each backend (tests/backends.py): the same contract for all."""
    return open_db(backend_url)


def add(db, n: int = 1, **kw):
    rows = [{"kind": "train", "spec": {"i": i}, "label": f"job{i}", "total_steps": 10} for i in range(n)]
    return queue.enqueue_many(db, rows, run_root="/tmp/runs", **kw)


def take(db, device: str = "cpu", worker: str = "h:1"):
    host, _, pid = worker.rpartition(":")  # the claiming process is the lease holder
    return queue.claim(db, worker=worker, host=host, pid=int(pid), device=device)


def test_sqlite_file_is_wal_with_foreign_keys(db, tmp_path):
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite's own settings")
    add(db)
    with db.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    plain = sqlite3.connect(tmp_path / "aetui.db")
    assert plain.execute("select count(*) from job").fetchone()[0] == 1
    assert plain.execute("select run_dir from run").fetchone()[0] == "/tmp/runs/1"


def test_lifecycle_and_attempts(db):
    (job,) = add(db)
    assert job.status == "queued" and job.id == 1
    got = take(db)
    assert got.id == 1 and got.status == "running" and got.assigned_device == "cpu"
    assert take(db) is None
    queue.progress(db, job_id=1, step=7, loss=0.5, images_per_s=10.0)
    assert queue.finish(db, job_id=1, worker="h:1", status="done")
    job = queries.get_job(db, 1)
    assert (job.status, job.step, job.loss) == ("done", 7, 0.5)
    (attempt,) = queries.attempts(db, 1)
    assert (attempt.outcome, attempt.start_step, attempt.end_step) == ("done", 0, 7)


def test_finish_by_another_worker_is_refused(db):
    add(db)
    take(db, worker="h:1")
    assert not queue.finish(db, job_id=1, worker="h:2", status="done")
    assert queries.get_job(db, 1).status == "running"


@pytest.mark.parametrize("status", ["running", "requeued", "finished", None])
def test_finish_refuses_a_status_it_cannot_set_before_changing_anything(db, status):
    add(db)
    take(db, worker="h:1")
    with pytest.raises(ValueError, match="status must be one of done, failed, cancelled, queued"):
        queue.finish(db, job_id=1, worker="h:1", status=status)
    job = queries.get_job(db, 1)
    assert (job.status, job.lease_owner) == ("running", "h:1")
    assert [a.outcome for a in queries.attempts(db, 1)] == ["running"]


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_finish_checks_its_status_under_python_O(tmp_path):
    """Not an assert: `python -O` drops those, and a bad status would reach the database."""
    import subprocess
    import sys

    code = ("import sys; from store import open_db, queue; db = open_db(sys.argv[1]); "
            "queue.enqueue_many(db, [{'kind': 'train', 'spec': {}}], run_root='/r'); "
            "queue.claim(db, worker='h:1', host='h', pid=1, device='cpu')\n"
            "try:\n queue.finish(db, job_id=1, worker='h:1', status='bogus')\n"
            "except ValueError as e:\n print('refused:', e)")
    out = subprocess.run([sys.executable, "-O", "-c", code, str(tmp_path / "o.db")], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.startswith("refused: queue.finish: status must be one of"), out.stdout + out.stderr


def test_priority_then_age(db):
    add(db, 3)
    queue.set_priority(db, job_id=3, priority=5)
    assert [take(db).id for _ in range(3)] == [3, 1, 2]


def test_device_requests(db):
    add(db, 1, device="cuda:1")
    add(db, 1, device="cpu")
    assert take(db, device="cuda:0") is None
    assert take(db, device="cuda:1").id == 1
    assert take(db, device="cpu").id == 2


def test_after_dependency_waits_then_fails_with_its_parent(db):
    add(db)
    add(db, after_id=1)
    assert take(db).id == 1
    assert take(db) is None  # 2 waits for 1
    queue.finish(db, job_id=1, worker="h:1", status="failed", error="boom")
    assert queue.fail_blocked(db) == [2]
    job = queries.get_job(db, 2)
    assert job.status == "failed" and "dependency job 1 failed" in job.error


def test_paused_queue_claims_nothing(db):
    add(db)
    queue.set_paused(db, True)
    assert take(db) is None and queries.is_paused(db)
    queue.set_paused(db, False)
    assert take(db).id == 1


def test_requeue_when_worker_process_gone_and_resume_step_recorded(db):
    add(db)
    take(db, worker="h:4242")
    queue.progress(db, job_id=1, step=5)
    assert queue.requeue_lost(db, host="h", is_alive=lambda pid: pid != 4242) == [1]
    assert queries.get_job(db, 1).status == "queued"
    take(db, worker="h:1")
    attempts = queries.attempts(db, 1)
    assert [(a.outcome, a.start_step) for a in attempts] == [("lost", 0), ("running", 5)]


def test_requeue_when_lease_expires_on_another_host(db):
    add(db)
    take(db, worker="other:1")
    assert queue.requeue_lost(db, host="h", is_alive=lambda pid: True) == []
    queue.heartbeat(db, worker="other:1", job_ids=[1])
    from sqlalchemy import update

    from store.tables import Job

    with db.begin() as c:
        c.execute(update(Job).values(lease_expires=time.time() - 1))
    assert queue.requeue_lost(db, host="h", is_alive=lambda pid: True) == [1]


def test_cancel_retry_delete(db):
    add(db, 2)
    assert queue.cancel(db, job_id=1).status == "cancelled"
    take(db)
    job = queue.cancel(db, job_id=2)
    assert job.status == "running" and job.cancel_requested
    assert queue.heartbeat(db, worker="h:1", job_ids=[2]) == [2]
    with pytest.raises(QueueError, match="is cancelled"):
        queue.cancel(db, job_id=1)
    assert queue.retry(db, job_id=1).status == "queued"
    with pytest.raises(QueueError, match="only failed or cancelled"):
        queue.retry(db, job_id=1)
    with pytest.raises(QueueError, match="no job 99"):
        queue.cancel(db, job_id=99)
    queue.cancel(db, job_id=1)
    queue.delete(db, job_id=1)
    with pytest.raises(QueueError):
        queries.get_job(db, 1)


def test_grid_is_one_group(db):
    jobs = add(db, 4)
    assert {j.group_id for j in jobs} == {jobs[0].id}


def test_changed_since_reads_only_new_rows(db):
    add(db, 3)
    mark = max(j.updated_at for j in queries.list_jobs(db))
    time.sleep(0.01)
    queue.progress(db, job_id=2, step=3)
    assert [j.id for j in queries.list_jobs(db, changed_since=mark)] == [2]


def _claimer(path: str, worker: str, out) -> None:
    db = open_db(path)
    got = []
    while True:
        job = queue.claim(db, worker=worker, host="h", pid=None, device="cpu")
        if job is None:
            break
        got.append(job.id)
        queue.finish(db, job_id=job.id, worker=worker, status="done")
    out.put(got)


@pytest.mark.slow
def test_concurrent_processes_claim_each_job_once(db, tmp_path):
    add(db, 120)
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    url = db.url.render_as_string(hide_password=False)
    procs = [ctx.Process(target=_claimer, args=(url, f"h:{i}", out)) for i in range(4)]
    for p in procs:
        p.start()
    claimed = [j for _ in procs for j in out.get(timeout=120)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(claimed) == list(range(1, 121))
    assert queries.count_jobs(db) == {"done": 120}


def test_dead_worker_with_a_live_child_waits_for_the_child(db):
    """The child of a dead worker got SIGTERM and is saving a checkpoint: it requeues the
    job itself. Once both are gone the next worker on this host requeues it at once."""
    add(db)
    take(db, worker="h:100")
    queue.record_pid(db, job_id=1, owner="h:100", pid=200)
    assert queries.attempts(db, 1)[0].pid == 200
    assert queue.requeue_lost(db, host="h", is_alive=lambda pid: pid == 200) == []
    assert queue.requeue_lost(db, host="h", is_alive=lambda pid: False) == [1]
    (attempt,) = queries.attempts(db, 1)
    assert (attempt.outcome, attempt.error) == ("lost", "worker process gone")


def test_progress_and_start_step_are_fenced_by_the_lease(db):
    add(db)
    take(db, worker="h:1")
    queue.progress(db, job_id=1, step=37)  # last progress before the worker died
    assert queue.progress(db, job_id=1, step=38, owner="h:1")
    assert queue.requeue_lost(db, host="h", is_alive=lambda pid: False) == [1]
    assert not queue.progress(db, job_id=1, step=39, owner="h:1")  # the old child must stop
    take(db, worker="h:2")
    assert queries.attempts(db, 1)[-1].start_step == 38
    assert not queue.record_start(db, job_id=1, owner="h:1", step=30)
    assert queue.record_start(db, job_id=1, owner="h:2", step=30)  # resumed from checkpoint 30
    assert queries.attempts(db, 1)[-1].start_step == 30 and queries.get_job(db, 1).step == 30


def test_requeue_with_a_changed_spec_keeps_the_reason_on_the_attempt(db):
    add(db)
    take(db)
    assert queue.finish(db, job_id=1, worker="h:1", status="queued", error="out of memory at batch size 16",
                        spec={"i": 0, "batch_size": 8})
    job = queries.get_job(db, 1)
    assert job.status == "queued" and job.spec == {"i": 0, "batch_size": 8}
    assert queries.attempts(db, 1)[0].outcome == "requeued"
    assert queries.attempts(db, 1)[0].error == "out of memory at batch size 16"
    assert take(db).spec["batch_size"] == 8


def test_dependency_chains_fail_through_and_failed_ones_are_refused(db):
    add(db)
    add(db, after_id=1)
    add(db, after_id=2)
    take(db)
    queue.finish(db, job_id=1, worker="h:1", status="failed", error="diverged at step 4")
    assert queue.fail_blocked(db) == [2, 3]
    assert queries.get_job(db, 2).error == "dependency job 1 failed: diverged at step 4"
    assert queries.get_job(db, 3).error.startswith("dependency job 2 failed")
    with pytest.raises(QueueError, match="--after job 1 is failed"):
        add(db, after_id=1)


def test_runnable_count_leaves_out_other_devices_and_blocked_jobs(db):
    add(db)                        # 1: auto
    add(db, device="cuda:1")       # 2: pinned elsewhere
    add(db, after_id=2)            # 3: behind a job this worker cannot run
    add(db, after_id=1)            # 4: behind a job it can run
    assert queries.runnable_count(db, devices=["cpu"]) == 2
    assert queries.runnable_count(db, devices=["cuda:1"]) == 4
    take(db, device="cuda:1")      # 1 runs somewhere: 4 waits for it
    assert queries.runnable_count(db, devices=["cpu"]) == 1


def _runnable_reference(jobs, devices: list[str]) -> int:
    """runnable_count's rule, walked in Python (as it was written before it became one query)."""
    by_id = {j.id: j for j in jobs}

    def can_run(j) -> bool:
        if j.status == "running":
            return True
        if j.status != "queued" or j.device not in ("auto", *devices) or j.gpus > len(devices):
            return False
        dep = by_id.get(j.after_id)
        return j.after_id is None or dep.status == "done" or can_run(dep)

    return sum(1 for j in jobs if j.status == "queued" and can_run(j))


def test_runnable_count_agrees_with_the_rule_on_random_queues(db):
    import random

    from sqlalchemy import update

    from store.tables import Job

    seed = random.randrange(2**32)
    rng = random.Random(seed)
    for i in range(40):
        add(db, device=rng.choice(["auto", "auto", "cpu", "cuda:1"]),
            after_id=rng.choice([None, None, rng.randint(1, i)]) if i else None)
    with db.begin() as c:
        for job_id in range(1, 41):
            c.execute(update(Job).where(Job.id == job_id).values(
                status=rng.choice(["queued", "queued", "running", "done", "failed", "cancelled"]),
                gpus=rng.choice([1, 1, 2, 3])))
    jobs = queries.list_jobs(db)
    for devices in (["cpu"], ["cuda:1"], ["cpu", "cuda:1"], ["cuda:0", "cuda:1", "cuda:2"]):
        assert queries.runnable_count(db, devices=devices) == _runnable_reference(jobs, devices), \
            f"devices {devices}, seed {seed}"


def test_a_claimed_job_is_starting_until_it_says_more_or_steps(db):
    """The claim says `starting` (what the dashboard shows until the job's process speaks);
    its phase replaces it, and any step ends it, whoever reports it; a command job's last
    line is its output and is never `starting`."""
    from store.states import STARTING

    first, second = add(db, 2)
    assert take(db).id == first.id
    assert queries.get_job(db, first.id).last_line == STARTING
    queue.progress(db, job_id=first.id, step=5, total_steps=10)
    assert queries.get_job(db, first.id).last_line is None
    assert take(db).id == second.id
    queue.last_line(db, job_id=second.id, text="preparing data")
    queue.progress(db, job_id=second.id, step=1)  # words_done not said: the job's own words stay
    assert queries.get_job(db, second.id).last_line == "preparing data"
    command = queue.enqueue_many(db, [dict(kind="command", spec={}, label="c")], run_root="runs")[0]
    assert take(db).id == command.id and queries.get_job(db, command.id).last_line is None
