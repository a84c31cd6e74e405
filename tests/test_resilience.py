"""The night the researcher is away: workers killed at random points, many workers at
once, a dead worker's jobs taken over, cancel that has to kill, out of memory,
divergence, corrupt images, foreign checkpoints. Real worker processes, real signals,
real SQLite files; cheap `noop` jobs where only the queue is under test."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, aetui, aetui_json, cli_env, wait_for

# A tiny run with checkpoints every 10 steps and the loss every 5; images only at the end.
SMALL = ["unet", "--res", "32", "--base-width", "4", "--depth", "2", "--data", "builtin:64", "--batch-size", "8",
         "--log-every", "5", "--image-every", "1000", "--checkpoint-every", "10"]


def env_for(home: Path) -> dict[str, str]:
    env = cli_env(home)
    env["OMP_NUM_THREADS"] = "1"  # CI has 2 shared cores: more threads only fight
    return env


def start_worker(procs, home: Path, log: Path, *args: str) -> subprocess.Popen:
    return procs.start([sys.executable, "-m", "aetui", "worker", "--poll", "0.2", *args], cwd=ROOT,
                       env=env_for(home), stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def run_worker(home: Path, *args: str, timeout: float = 240) -> str:
    proc = subprocess.run([sys.executable, "-m", "aetui", "worker", "--until-empty", "--poll", "0.2", *args],
                          cwd=ROOT, env=env_for(home), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def detail(home: Path, job_id: int) -> dict:
    return aetui_json(home, "show", str(job_id))


def polled(home: Path, job_id: int):
    """The job's row and its attempts, read straight from the store (cheap to poll)."""
    from aetui.home import Home
    from store import queries

    db = _engines.setdefault(home, Home.resolve(home)).db
    return queries.get_job(db, job_id), queries.attempts(db, job_id)


_engines: dict = {}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def integrity(home: Path) -> str:
    with sqlite3.connect(home / "aetui.db") as c:
        return c.execute("PRAGMA integrity_check").fetchone()[0]


def loss_steps(run_dir: Path) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.step for e in acc.Scalars("train/loss")]


def submit(home: Path, kind: str, specs: list[dict], **kw) -> list[int]:
    from aetui.home import Home
    from aetui.jobs import submit as submit_jobs

    return [j.id for j in submit_jobs(Home.resolve(home), kind, specs, **kw)]


# ----------------------------------------------------------------- killed workers

def newest_step_checkpoint(ckpts: Path) -> int:
    return max((int(p.stem.split("_")[1]) for p in ckpts.glob("step_*.pt")), default=0)


def checkpointed(ckpts: Path, step: int, seed: int) -> bool:
    """Whether the run has a periodic checkpoint at `step` or later; fails at once if it has
    reached its end instead (its final checkpoint), which would leave nothing to kill."""
    if (ckpts / "final.pt").exists():
        raise AssertionError(f"the job reached its end before the kill (seed {seed})")
    return newest_step_checkpoint(ckpts) >= step


@pytest.mark.slow
def test_sigkill_at_random_points_resumes_every_time_from_a_checkpoint(home, tmp_path, procs, seed):
    """SIGKILL the worker and its child together (the job resumes from the last periodic
    checkpoint) or the worker alone (its child gets SIGTERM by PDEATHSIG, checkpoints and
    requeues the job), at random moments; the next worker takes the job over at once.

    The moments are paced by the child itself, not by the clock: the test watches its
    checkpoint files (written at once, unlike the progress in the store, which lags up to a
    second) and kills it at a random point of the interval between two checkpoints, as
    long as the last interval took. So each attempt trains about 10 to 30 steps, on any
    machine, and the job is far from its end at every kill (on a loaded machine it used to
    reach its end: the child wrote `final.pt`, resume rightly took it, and the test,
    which had listed only the step checkpoints, expected an older one)."""
    rnd = random.Random(seed)
    steps = 200  # three attempts train about 30 steps each: the job is far from its end at every kill
    job = aetui_json(home, "queue", *SMALL, "--steps", str(steps))["id"]
    ckpts = Path(detail(home, job)["run_dir"]) / "checkpoints"
    log = tmp_path / "workers.log"
    expected_starts = []  # the step each new attempt must start from
    start = 0
    for kill in ("both", "worker", "both"):
        worker = start_worker(procs, home, log)
        # a random point in the interval after the second checkpoint this attempt writes
        first = (start // 10 + 1) * 10
        t0 = wait_for(lambda: checkpointed(ckpts, first, seed) and time.monotonic(), every=0.02,
                      what=f"a checkpoint at step {first} (seed {seed})")
        t1 = wait_for(lambda: checkpointed(ckpts, first + 10, seed) and time.monotonic(), every=0.02,
                      what=f"a checkpoint at step {first + 10} (seed {seed})")
        time.sleep(rnd.uniform(0, 1) * (t1 - t0))
        child = polled(home, job)[1][-1].pid
        assert child != worker.pid, "the attempt records its child process"
        if kill == "worker":
            worker.kill()
            worker.wait()
            wait_for(lambda: not alive(child), timeout=60, what="the child to checkpoint and exit")
            j, attempts = polled(home, job)
            assert j.status == "queued" and attempts[-1].outcome == "requeued", (seed, attempts)
            assert (ckpts / f"step_{attempts[-1].end_step:08d}.pt").is_file()
            expected_starts.append(attempts[-1].end_step)
        else:
            os.kill(child, signal.SIGSTOP)  # frozen: it cannot checkpoint when its worker dies
            # kill() returns before the child has stopped: a rename in flight may still land
            wait_for(lambda: stopped(child), timeout=60, what=f"the child to stop (seed {seed})")
            assert not (ckpts / "final.pt").exists(), f"the job reached its end before the kill (seed {seed})"
            newest = newest_step_checkpoint(ckpts)
            worker.kill()
            worker.wait()
            os.kill(child, signal.SIGKILL)
            wait_for(lambda: not alive(child), timeout=30, what="the child to die")
            assert polled(home, job)[0].status == "running"  # until a worker notices
            expected_starts.append(newest)
        start = expected_starts[-1]

    out = run_worker(home)
    assert f"job {job}: its worker is gone; requeued" in out
    d = detail(home, job)
    assert d["status"] == "done", (seed, d["error"])
    assert d["steps_done"] == steps and d["metrics"]["steps_done"] == steps
    attempts = d["attempts"]
    assert [a["outcome"] for a in attempts] == ["lost", "requeued", "lost", "done"], (seed, attempts)
    assert all(a["error"] == "worker process gone" for a in attempts if a["outcome"] == "lost")
    starts = [a["start_step"] for a in attempts[1:]]
    assert starts == expected_starts, (seed, attempts)
    assert all(s > 0 for s in starts)
    assert loss_steps(Path(d["run_dir"])) == list(range(5, steps + 1, 5)), f"seed {seed}"
    import torch

    assert torch.load(ckpts / "final.pt", weights_only=True)["step"] == steps
    assert integrity(home) == "ok"


@pytest.mark.slow
def test_until_empty_waits_for_a_live_worker_and_takes_over_a_dead_one(home, tmp_path, procs):
    """The second worker can only requeue the job and finish it (asserted at the end) if it
    waited for it instead of exiting: no sleep needed to prove that it waits."""
    (job,) = submit(home, "noop", [{"steps": 32, "sleep_s": 0.25}])
    first = start_worker(procs, home, tmp_path / "first.log")
    wait_for(lambda: polled(home, job)[0].step >= 1, every=0.2, what="the first worker's job")
    second = start_worker(procs, home, tmp_path / "second.log", "--until-empty")
    wait_for(lambda: "worker " in (tmp_path / "second.log").read_text(), what="the second worker")
    assert second.poll() is None, "a job still runs under a live worker: --until-empty must wait"
    j, attempts = polled(home, job)
    assert j.status == "running" and attempts[-1].worker == f"{os.uname().nodename}:{first.pid}"
    child = attempts[-1].pid
    os.kill(child, signal.SIGSTOP)
    first.kill()
    first.wait()
    os.kill(child, signal.SIGKILL)
    assert second.wait(timeout=120) == 0
    out = (tmp_path / "second.log").read_text()
    assert f"job {job}: its worker is gone; requeued" in out
    d = detail(home, job)
    assert d["status"] == "done"
    assert [a["outcome"] for a in d["attempts"]] == ["lost", "done"]
    assert d["attempts"][1]["worker"] != d["attempts"][0]["worker"] and d["attempts"][1]["start_step"] > 0


@pytest.mark.slow
def test_cancel_kills_after_the_grace_period_and_slots_per_device(home, tmp_path, procs):
    """Two jobs run at once with --per-device 2; one ignores SIGTERM (a long step) and is
    killed after --grace; a job pinned to a device no worker has does not keep
    --until-empty waiting."""
    stubborn, quick = submit(home, "noop", [{"steps": 1, "sleep_s": 60}, {"steps": 8, "sleep_s": 0.5}])
    from aetui.home import Home
    from store.queue import enqueue_many

    (pinned,) = enqueue_many(Home.resolve(home).db, [{"kind": "noop", "spec": {"steps": 1}}],
                             run_root=str(home / "runs"), device="cuda:7")
    log = tmp_path / "worker.log"
    worker = start_worker(procs, home, log, "--until-empty", "--per-device", "2", "--grace", "1")
    wait_for(lambda: polled(home, stubborn)[0].status == polled(home, quick)[0].status == "running",
             every=0.2, what="both jobs running at once")
    stubborn_log = Path(detail(home, stubborn)["run_dir"]) / "noop.log"
    # cancel only once the child is inside its long step: before its SIGTERM handler exists,
    # SIGTERM simply ends it and there is nothing to kill
    wait_for(stubborn_log.exists, every=0.2, what="the stubborn job inside its step")
    assert aetui_json(home, "cancel", str(stubborn))["status"] == "running"
    assert worker.wait(timeout=120) == 0
    out = log.read_text()
    assert "killing it" in out, out
    d = detail(home, stubborn)
    assert d["status"] == "cancelled" and d["error"] == "cancelled by user"
    assert d["attempts"][-1]["outcome"] == "cancelled"
    assert detail(home, quick)["status"] == "done"
    assert detail(home, pinned.id)["status"] == "queued"


# Imported by every Python process that has this folder on PYTHONPATH, before its own
# code: a worker's child (and only it) stops itself there, before it installs its handlers.
FREEZE_CHILD_AT_START = """
import os, signal
with open("/proc/self/cmdline", "rb") as f:
    if b"aetui.worker.child" in f.read():
        os.kill(os.getpid(), signal.SIGSTOP)
"""


def stopped(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] == "T"


@pytest.mark.slow
def test_worker_stopped_while_its_child_starts_requeues_the_job(home, tmp_path, procs):
    """SIGTERM reaches a child that has not installed its handler yet (it is still
    starting): it dies of the signal. That is the stop the worker asked for, so the job
    goes back to the queue, never to failed."""
    (job,) = submit(home, "noop", [{"steps": 4, "sleep_s": 0.2}])
    freeze = tmp_path / "freeze"
    freeze.mkdir()
    (freeze / "sitecustomize.py").write_text(FREEZE_CHILD_AT_START)
    env = env_for(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(freeze), env.get("PYTHONPATH")]))
    log = tmp_path / "worker.log"
    worker = procs.start([sys.executable, "-m", "aetui", "worker", "--poll", "0.2", "--grace", "30"], cwd=ROOT,
                         env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    # the attempt holds the worker's pid from the claim, then its child's
    child = wait_for(lambda: polled(home, job)[1] and polled(home, job)[1][-1].pid not in (None, worker.pid)
                     and polled(home, job)[1][-1].pid, what="the child's pid")
    wait_for(lambda: stopped(child), what="the child frozen in its start-up")
    worker.send_signal(signal.SIGTERM)
    wait_for(lambda: "checkpointing and requeueing" in log.read_text(), what="the worker's SIGTERM to its child")
    os.kill(child, signal.SIGCONT)  # the pending SIGTERM now ends it, with no handler yet
    assert worker.wait(timeout=120) == 0
    run_dir = Path(detail(home, job)["run_dir"])
    assert not (run_dir / "stdout.log").read_text()  # it never got to its first line
    j, attempts = polled(home, job)
    assert j.status == "queued" and j.error is None, (j, log.read_text())
    assert [a.outcome for a in attempts] == ["requeued"]
    run_worker(home)
    assert detail(home, job)["status"] == "done"


@pytest.mark.slow
def test_two_detached_workers_started_at_once_one_is_refused(home, procs):
    aetui(home, "pause")  # the background worker must not run anything here
    launchers = [procs.start([sys.executable, "-m", "aetui", "worker", "--detach", "--json"], cwd=ROOT,
                             env=env_for(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in launchers]
    started = [json.loads(out) for (out, _), p in zip(outs, launchers) if p.returncode == 0]
    try:
        assert sorted(p.returncode for p in launchers) == [0, 2], outs
        refused = next(err for (_, err), p in zip(outs, launchers) if p.returncode == 2)
        assert "a background worker already runs" in refused
    finally:
        for worker in started:
            os.kill(worker["pid"], signal.SIGTERM)


def test_queue_warns_when_no_running_worker_uses_the_pinned_device(home):
    from aetui.home import Home
    from aetui.worker.registry import registered

    assert "no worker is running" in aetui(home, "queue", "unet", "--res", "64").stderr
    with registered(Home.resolve(home), devices=["cuda:0"], detached=False):  # this process poses as one
        assert aetui(home, "queue", "unet", "--res", "64").stderr == ""
        pinned = aetui(home, "queue", "unet", "--res", "64", "--device", "cpu").stderr
    assert "no running worker uses cpu" in pinned and "--devices cpu" in pinned


# ------------------------------------------------------------------ many at once

def _claimer(db_path: str, name: str, out) -> None:
    """A worker reduced to its store calls: claim, progress (under its lease), finish."""
    from store import open_db, queue

    db = open_db(db_path)
    got: list[int] = []
    try:
        while True:
            job = queue.claim(db, worker=name, host="elsewhere", pid=os.getpid(), device="cpu")
            if job is None:
                break
            got.append(job.id)
            assert queue.progress(db, job_id=job.id, step=1, owner=name)
            time.sleep(0.01)
            assert queue.finish(db, job_id=job.id, worker=name, status="done")
        out.put((name, got, None))
    except Exception as e:  # reported to the test, e.g. "database is locked"
        out.put((name, got, repr(e)))


def _reader(db_path: str, stop, out) -> None:
    """What the dashboard does while everything runs: list, count, read a job."""
    from store import open_db, queries

    db = open_db(db_path)
    reads = 0
    try:
        while not stop.is_set():
            jobs = queries.list_jobs(db, limit=50)
            queries.count_jobs(db)
            if jobs:
                queries.attempts(db, jobs[0].id)
            reads += 1
            time.sleep(0.02)
        out.put(("reader", reads, None))
    except Exception as e:
        out.put(("reader", reads, repr(e)))


@pytest.mark.slow
def test_eight_claimers_two_real_workers_and_a_reader_drain_240_jobs(home, tmp_path, procs):
    n = 240
    ids = submit(home, "noop", [{"steps": 1}] * n)
    db_path = str(home / "aetui.db")
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = [start_worker(procs, home, log, "--until-empty") for log in logs]
    ctx = mp.get_context("spawn")
    out, stop = ctx.Queue(), ctx.Event()
    reader = ctx.Process(target=_reader, args=(db_path, stop, out), daemon=True)
    claimers = [ctx.Process(target=_claimer, args=(db_path, f"claimer{i}", out), daemon=True) for i in range(8)]
    try:
        # let the real workers get going, so they compete for the queue with the claimers
        wait_for(lambda: all("started on" in log.read_text() for log in logs), timeout=60, what="both workers")
        reader.start()
        for p in claimers:
            p.start()
        results = [out.get(timeout=240) for _ in claimers]
        for w in workers:
            assert w.wait(timeout=120) == 0
        stop.set()
        results.append(out.get(timeout=60))
    finally:
        for w in workers:
            w.kill()
        for p in [*claimers, reader]:
            if p.is_alive():
                p.kill()
    errors = [(name, err) for name, _, err in results if err]
    assert not errors, errors
    logs_text = "".join(log.read_text() for log in logs)
    assert "locked" not in logs_text and "Traceback" not in logs_text, logs_text

    from aetui.home import Home
    from store import queries

    db = Home.resolve(home).db
    assert queries.count_jobs(db) == {"done": n}
    by_claimers = [j for name, got, _ in results if name != "reader" for j in got]
    by_workers = []
    for job_id in ids:
        attempts = queries.attempts(db, job_id)
        assert len(attempts) == 1 and attempts[0].outcome == "done", (job_id, attempts)
        if attempts[0].host != "elsewhere":
            by_workers.append(job_id)
            lines = (home / "runs" / str(job_id) / "noop.log").read_text().splitlines()
            assert len(lines) == 1, (job_id, lines)  # ran exactly once
    assert sorted(by_claimers + by_workers) == ids, "each job claimed exactly once, none lost"
    assert len({a.worker for j in by_workers for a in queries.attempts(db, j)}) == 2, "both real workers ran jobs"
    assert integrity(home) == "ok"


# --------------------------------------------------------- jobs that cannot finish

def run_here(home: Path, job_id: int) -> dict:
    """Run a queued job in this process: the same `execute` a worker's child runs."""
    from aetui.home import Home
    from aetui.worker.foreground import run_now

    run_now(Home.resolve(home), job_id, device="cpu", quiet=True)
    return detail(home, job_id)


@pytest.mark.slow
def test_out_of_memory_fails_clearly_or_retries_once_at_half_the_batch(home, monkeypatch, one_thread):
    monkeypatch.setenv("AETUI_FAKE_OOM_AT_BATCH", "8")  # test-only hook, same handling as a real OOM
    plain = aetui_json(home, "queue", *SMALL, "--steps", "10")["id"]
    retried = aetui_json(home, "queue", *SMALL, "--steps", "10", "--oom-retry")["id"]

    d = run_here(home, plain)
    assert d["status"] == "failed"
    assert "out of memory at batch size 8" in d["error"] and "--oom-retry" in d["error"], d["error"]

    d = run_here(home, retried)
    assert d["status"] == "queued" and d["spec"]["batch_size"] == 4
    (attempt,) = d["attempts"]
    assert attempt["outcome"] == "requeued"
    assert "out of memory at batch size 8" in attempt["error"] and "retrying once with batch size 4" in attempt["error"]
    d = run_here(home, retried)
    assert d["status"] == "done", d["error"]
    assert d["metrics"]["batch_size"] == 4 and d["metrics"]["steps_done"] == 10
    assert d["metrics"]["oom_retry"]["from_batch_size"] == 8 and d["metrics"]["oom_retry"]["to_batch_size"] == 4
    assert "--oom-retry" in d["requeue_command"]


def test_out_of_memory_retried_only_once(home, monkeypatch, one_thread):
    monkeypatch.setenv("AETUI_FAKE_OOM_AT_BATCH", "2")
    job = aetui_json(home, "queue", *SMALL, "--steps", "10", "--oom-retry")["id"]
    assert run_here(home, job)["status"] == "queued"
    d = run_here(home, job)
    assert d["status"] == "failed" and "already retried" in d["error"], d["error"]
    assert "out of memory at batch size 4" in d["error"]


def test_real_nan_loss_fails_with_the_step(home, one_thread):
    job = aetui_json(home, "queue", *SMALL, "--steps", "40", "--lr", "1e30")["id"]
    d = run_here(home, job)
    diverged = re.fullmatch(r"diverged at step (\d+): loss is not finite", d["error"] or "")
    assert d["status"] == "failed" and diverged, d["error"]
    assert int(diverged[1]) <= 5
    assert not list((Path(d["run_dir"]) / "checkpoints").glob("step_*.pt")), "no checkpoint of a diverged model"


def _png(path: Path, seed: int) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def test_corrupt_images_are_skipped_and_counted_and_all_corrupt_is_refused(home, tmp_path, one_thread):
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i in range(6):
        _png(mixed / f"ok{i}.png", i)
    for i in range(3):
        _png(mixed / f"cut{i}.png", 10 + i)
        data = (mixed / f"cut{i}.png").read_bytes()
        (mixed / f"cut{i}.png").write_bytes(data[: len(data) // 2])  # truncated
    (mixed / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"junk" * 10)
    job = aetui_json(home, "queue", *SMALL, "--data", f"folder:{mixed}", "--batch-size", "4", "--steps", "5")["id"]
    d = run_here(home, job)
    assert d["status"] == "done", d["error"]
    assert d["metrics"]["skipped_images"] == 4
    assert d["metrics"]["train_images"] + d["metrics"]["heldout_images"] == 6

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("cut0.png", "cut1.png", "junk.png"):
        (broken / name).write_bytes((mixed / name).read_bytes())
    refused = aetui(home, "queue", *SMALL, "--data", f"folder:{broken}", check=False)
    assert refused.returncode == 2 and "no readable images" in refused.stderr, refused.stderr
    assert "corrupt or truncated" in refused.stderr

    # a folder too big to check at queue time fails at run time, with the same words
    from aetui.home import Home
    from store.queue import enqueue_many

    spec = detail(home, job)["spec"] | {"data": f"folder:{broken}"}
    (late,) = enqueue_many(Home.resolve(home).db, [{"kind": "train", "spec": spec}], run_root=str(home / "runs"))
    d = run_here(home, late.id)
    assert d["status"] == "failed" and d["error"] == f"no readable images in {broken} (3 skipped)"


class _NotAState:
    pass


def test_a_checkpoint_that_is_not_plain_tensors_is_refused(home, one_thread):
    import torch

    job = aetui_json(home, "queue", *SMALL, "--steps", "20")["id"]
    ckpts = Path(detail(home, job)["run_dir"]) / "checkpoints"
    ckpts.mkdir(parents=True)
    torch.save({"model": _NotAState(), "config": {}}, ckpts / "step_00000010.pt")
    d = run_here(home, job)
    assert d["status"] == "failed"
    assert "is not a plain checkpoint" in d["error"] and "step_00000010.pt" in d["error"], d["error"]
