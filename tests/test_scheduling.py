"""Jobs on one device or several: which starts next (aetui.worker.scheduling), the store's
claim that places them, and a real worker running cheap `noop` jobs of mixed widths."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from aetui.worker.scheduling import Policy, Scheduler, Waiting, free_devices
from tests.conftest import ROOT, cli_env

INF = float("inf")


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def simulate(jobs: list[tuple[float, int, float]], *, devices: int = 8, policy: Policy,
             horizon: float = 5000.0) -> dict[int, float]:
    """Run a workload through the policy in fake time; returns each job's start time.

    `jobs`: (arrival, gpus, duration), ids in list order. The claim is the store's rule
    (`store.queue.claim`): the best job (priority, then oldest) among the queued ones that
    need between `need` and the free devices."""
    clock = Clock()
    sched = Scheduler(policy, clock=clock)
    queued: list[int] = []
    running: list[tuple[float, int]] = []  # (end, gpus)
    starts: dict[int, float] = {}
    arrivals = sorted(range(len(jobs)), key=lambda i: jobs[i][0])
    while clock.t <= horizon and (arrivals or queued or running):
        while arrivals and jobs[arrivals[0]][0] <= clock.t:
            queued.append(arrivals.pop(0))
        running = [(end, g) for end, g in running if end > clock.t]
        while True:
            free = devices - sum(g for _, g in running)
            wide = [Waiting(i, jobs[i][1]) for i in sorted(queued) if jobs[i][1] > 1]
            need, _ = sched.need(wide)
            fits = [i for i in sorted(queued) if need <= jobs[i][1] <= free]
            if free < need or not fits:
                break
            job = fits[0]
            sched.started(Waiting(job, jobs[job][1]), wide, free)
            queued.remove(job)
            starts[job] = clock.t
            running.append((clock.t + jobs[job][2], jobs[job][1]))
        clock.t += 1.0
    return starts


def busy_box_with_a_wide_job(n_narrow: int = 400) -> list[tuple[float, int, float]]:
    """8 one-device jobs fill the box, ending one after another; a 4-device job arrives;
    then a one-device job every time unit, for ever (more than the box can run)."""
    first = [(0.0, 1, 2.0 + i) for i in range(8)]
    stream = [(1.0 + i, 1, 8.0) for i in range(n_narrow)]
    return first + [(1.0, 4, 10.0)] + stream


def test_without_aging_a_wide_job_starves_behind_narrow_ones():
    starts = simulate(busy_box_with_a_wide_job(), policy=Policy(reserve_after_s=INF, reserve_after_skips=10**9),
                      horizon=400)
    assert 8 not in starts  # every freed device went to the next narrow job
    assert len(starts) > 300


def test_aging_by_time_starts_the_wide_job_and_then_the_narrow_ones_again():
    T = 60.0
    starts = simulate(busy_box_with_a_wide_job(), policy=Policy(reserve_after_s=T, reserve_after_skips=10**9))
    assert T <= starts[8] <= 1.0 + T + 8.0  # waited T, then at most one narrow job's run while devices drained
    assert all(i in starts for i in range(len(busy_box_with_a_wide_job())))  # and everything ran
    later = [i for i in range(9, 409) if starts[i] > starts[8]]
    assert later and min(starts[i] for i in later) <= starts[8] + 1.0  # narrow jobs resume beside it


def test_aging_by_skips():
    starts = simulate(busy_box_with_a_wide_job(), policy=Policy(reserve_after_s=INF, reserve_after_skips=5))
    passed_over = [i for i in range(9, 409) if starts[i] < starts[8]]
    assert 5 <= len(passed_over) <= 5 + 8  # 5 skips, then only jobs already ahead could start
    assert starts[8] <= 30


def test_no_head_of_line_blocking():
    """A narrow job starts on free devices while an older wide one waits for more."""
    jobs = [(0.0, 2, 50.0), (0.0, 2, 50.0), (0.0, 2, 50.0), (1.0, 4, 10.0), (2.0, 1, 5.0), (2.0, 2, 5.0)]
    starts = simulate(jobs, policy=Policy())
    assert starts[4] == 2.0  # on the 2 free devices the 4-device job (id 3) cannot use
    assert starts[5] == 7.0  # and the 2-device job when the 1-device one ended
    assert starts[3] == 50.0


def test_mixed_widths_all_finish_and_none_starves():
    """A random mix of 1-, 2- and 4-device jobs over 8 devices, near full load: all run;
    with aging no 4-device job waits longer than the aging time plus two job lengths,
    half the worst wait without it."""
    rng = random.Random(7)
    jobs, t = [], 0.0
    for _ in range(300):
        t += rng.expovariate(1 / 2.8)
        jobs.append((t, rng.choice([1, 1, 1, 2, 2, 4]), rng.uniform(2, 20)))

    def worst_wide_wait(policy: Policy) -> float:
        starts = simulate(jobs, policy=policy, horizon=20000)
        assert len(starts) == len(jobs)
        return max(starts[i] - jobs[i][0] for i in starts if jobs[i][1] == 4)

    T = 40.0
    aging = worst_wide_wait(Policy(reserve_after_s=T, reserve_after_skips=10**9))
    assert aging <= T + 2 * 20
    assert worst_wide_wait(Policy(reserve_after_s=INF, reserve_after_skips=10**9)) > 1.5 * aging


def test_free_devices_least_busy_first():
    busy = {"cuda:0": 1, "cuda:1": 0, "cuda:2": 2, "cuda:3": 0}
    assert free_devices(list(busy), busy.__getitem__, 2) == ["cuda:1", "cuda:3", "cuda:0"]
    assert free_devices(list(busy), busy.__getitem__, 1) == ["cuda:1", "cuda:3"]


def test_store_claim_places_jobs_on_free_devices(backend_url):
    from store import open_db, queries, queue

    db = open_db(backend_url)
    rows = [{"kind": "noop", "spec": {}, "label": f"g{g}", "gpus": g} for g in (4, 1, 2)]
    wide, one, two = queue.enqueue_many(db, rows, run_root="/r")
    pinned, = queue.enqueue_many(db, [{"kind": "noop", "spec": {}, "label": "pinned"}], run_root="/r", device="cuda:3")
    claim = lambda free, **kw: queue.claim(db, worker="h:1", host="h", pid=1, devices=free, **kw)  # noqa: E731
    assert [j.id for j in queries.queued_wide(db, max_gpus=8)] == [wide.id, two.id]
    assert [j.id for j in queries.queued_wide(db, max_gpus=2)] == [two.id]
    got = claim(["cuda:1", "cuda:2"])  # the 4-device job does not fit: passed over
    assert (got.id, got.assigned_device) == (one.id, "cuda:1")
    assert claim(["cuda:2", "cuda:3"], min_gpus=4) is None  # held back for a wide job
    got = claim(["cuda:2", "cuda:3"])
    assert (got.id, got.assigned_device) == (two.id, "cuda:2,cuda:3")
    assert queries.attempts(db, two.id)[0].device == "cuda:2,cuda:3"
    assert queries.get_run(db, two.id).device == "cuda:2,cuda:3"
    got = claim(["cuda:0", "cuda:3", "cuda:4", "cuda:5"])
    assert (got.id, got.assigned_device) == (wide.id, "cuda:0,cuda:3,cuda:4,cuda:5")
    got = claim(["cuda:6", "cuda:3"])
    assert (got.id, got.assigned_device) == (pinned.id, "cuda:3")
    assert queries.runnable_count(db, devices=["a"]) == 0
    queue.enqueue_many(db, [{"kind": "noop", "spec": {}, "label": "x", "gpus": 3}], run_root="/r")
    assert queries.runnable_count(db, devices=["a", "b"]) == 0  # needs more devices than this worker has
    assert queries.runnable_count(db, devices=["a", "b", "c"]) == 1


def test_crash_verdict_requeues_until_the_same_checkpoint_crashed_three_times(backend_url):
    from aetui.worker.gang import BROKEN, MAX_REQUEUES, crash_verdict
    from store import open_db, queue

    db = open_db(backend_url)
    job, = queue.enqueue_many(db, [{"kind": "noop", "spec": {}, "label": "x", "gpus": 2}], run_root="/r")
    outcomes = []
    for step in (0, 50, 50, 50, 50):
        queue.claim(db, worker="h:1", host="h", pid=1, devices=["a", "b"])
        assert queue.record_start(db, job_id=job.id, owner="h:1", step=step)
        status, error = crash_verdict(db, job.id, "rank 1 killed by signal 9")
        outcomes.append(status)
        queue.finish(db, job_id=job.id, worker="h:1", status=status, error=error)
        if status == "failed":
            break
    assert MAX_REQUEUES == 3
    assert outcomes == ["queued", "queued", "queued", "queued", "failed"]  # step 0 once, then step 50 three times
    assert error.startswith(BROKEN) and "4 times in a row from step 50" in error


@pytest.mark.slow
def test_worker_runs_mixed_width_jobs_without_double_booking(home):
    """A real worker on 4 CPU slots and cheap `noop` jobs of 1, 2 and 4 devices: each gets
    as many distinct slots as it needs, no slot holds two jobs at once, and a 1-slot job
    starts on a free slot while an older 4-slot job waits."""
    from aetui.home import Home
    from aetui.jobs import submit
    from store import queries

    h = Home.resolve(home)
    specs = [{"steps": 3, "sleep_s": 0.5, "gpus": 2}, {"steps": 1, "gpus": 4}, {"steps": 1, "gpus": 1}]
    jobs = [submit(h, "noop", [s])[0] for s in specs]
    proc = subprocess.run([sys.executable, "-m", "aetui", "worker", "--devices", "cpu:0,cpu:1,cpu:2,cpu:3",
                           "--until-empty", "--poll", "0.1"], cwd=ROOT, env=cli_env(home), capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spans = []
    for job, spec in zip(jobs, specs):
        j = queries.get_job(h.db, job.id)
        assert j.status == "done", (j.error, proc.stdout)
        (a,) = queries.attempts(h.db, job.id)
        slots = a.device.split(",")
        assert len(slots) == len(set(slots)) == spec["gpus"] and j.assigned_device == a.device
        spans.append((a.started_at, a.ended_at, set(slots)))
    for i, (s1, e1, d1) in enumerate(spans):
        for s2, e2, d2 in spans[i + 1:]:
            assert not (d1 & d2 and s1 < e2 and s2 < e1), "a slot held by two jobs at once"
    assert spans[2][0] < spans[1][0]  # the 1-slot job did not wait behind the 4-slot one
    assert (h.runs / str(jobs[1].id) / "stdout.rank3.log").is_file()  # one process per slot


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "9", "--gpus", "2"], "--batch-size 9 is not divisible by --gpus 2"),
    (["--gpus", "2", "--device", "cpu"], "--gpus 2 runs on any 2 free devices"),
    (["--gpus", "0"], "--gpus"),
])
def test_queue_refuses_bad_device_requests(home, args, message):
    from tests.conftest import aetui

    out = aetui(home, "queue", "unet", "--res", "32", *args, check=False)
    assert out.returncode == 2 and message in out.stderr + out.stdout
    assert aetui(home, "runs", "--json").stdout.strip() == "[]"
