"""Disks and checkpoints under faults: a full file system, a corrupted newest checkpoint,
a diverged model asked to stop, a run that starts over from step 0.

Jobs run in this process through `execute`, the code a worker's child runs; faults come at
a known step through its `should_stop` hook, which the loop calls once before every step
(the child's SIGTERM handler is what sets it there). Real tiny training, real files.
"""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import aetui, aetui_json

# checkpoints every 10 steps, the loss every 5, images only at the end
SMALL = ["unet", "--res", "32", "--base-width", "4", "--depth", "2", "--data", "builtin:64", "--batch-size", "8",
         "--log-every", "5", "--image-every", "1000", "--checkpoint-every", "10"]


def run_here(home: Path, job_id: int, should_stop=lambda: False) -> dict:
    """Claim the job for this process and run it to its end; its `show --json` after."""
    from aetui.home import Home
    from aetui.worker.execute import execute, host_name, owner_id
    from store import queue

    h = Home.resolve(home)
    owner = owner_id()
    assert queue.claim(h.db, worker=owner, host=host_name(), pid=os.getpid(), device="cpu", job_id=job_id)
    execute(h, job_id, owner=owner, device="cpu", should_stop=should_stop)
    return aetui_json(home, "show", str(job_id))


def before_step(n: int, action=lambda: True):
    """A `should_stop` that runs `action` before step `n` (its answer: stop or not) and
    says "go on" before every other step."""
    calls = {"n": 0}

    def hook() -> bool:
        calls["n"] += 1
        return bool(action()) if calls["n"] == n else False

    return hook


def step_files(run_dir: Path) -> list[str]:
    return sorted(p.name for p in (run_dir / "checkpoints").glob("step_*.pt"))


# ------------------------------------------------------------------ a full disk

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 4 MiB tmpfs: a real file system that fills up."""
    mnt = tmp_path / "small_disk"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {mounted.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Write zeros to a file until the file system is full, then free `leave` bytes."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 20, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                    break
        os.ftruncate(fd, os.fstat(fd).st_size - leave)
    finally:
        os.close(fd)
    return filler


@pytest.mark.slow
def test_disk_full_says_where_records_the_last_good_checkpoint_and_retry_resumes(home, small_disk, one_thread):
    runs = small_disk / "runs"
    job = aetui_json(home, "queue", *SMALL, "--steps", "40", "--runs-root", str(runs))["id"]
    filled = {}
    # checkpoints 10 and 20 are written; before step 25 the disk fills, up to 32 KiB: room for
    # the loss curve, not for step 30's checkpoint (~150 KB)
    d = run_here(home, job, before_step(25, lambda: filled.setdefault("file", fill(small_disk, 32 << 10)) and False))
    assert filled, "the disk was filled"
    run_dir = Path(d["run_dir"])
    assert d["status"] == "failed"
    error = d["error"]
    assert error.startswith(f"disk full at {run_dir / 'checkpoints' / 'step_00000030.pt'} "), error
    assert "\n" not in error and "enforce fail" not in error
    assert "step 20" in error, "the error names the checkpoint a retry resumes from"
    (attempt,) = d["attempts"]
    assert (attempt["outcome"], attempt["end_step"]) == ("failed", 20)
    assert step_files(run_dir)[-1] == "step_00000020.pt"
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.endswith(".tmp")], "no half-written file"

    filled["file"].unlink()
    aetui(home, "retry", str(job))
    d = run_here(home, job)
    assert d["status"] == "done", d["error"]
    assert [(a["start_step"], a["outcome"]) for a in d["attempts"]] == [(0, "failed"), (20, "done")]
    assert d["metrics"]["steps_done"] == 40


# ------------------------------------------------------------------ a corrupted newest checkpoint

@pytest.mark.slow
def test_corrupted_newest_checkpoint_falls_back_to_the_newest_that_loads(home, one_thread, capsys):
    job = aetui_json(home, "queue", *SMALL, "--steps", "20", "--checkpoint-every", "5")["id"]
    d = run_here(home, job, before_step(18))  # asked to stop before step 18: saves step 17
    assert d["status"] == "queued", d["error"]
    run_dir = Path(d["run_dir"])
    ckpts = run_dir / "checkpoints"
    assert step_files(run_dir) == ["step_00000010.pt", "step_00000015.pt", "step_00000017.pt"]
    newest = ckpts / "step_00000017.pt"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # a torn write
    leftover = ckpts / ".step_00000020.pt.4242.tmp"  # what a kill -9 mid-write leaves
    leftover.write_bytes(b"\0" * 100)
    capsys.readouterr()

    d = run_here(home, job)
    assert d["status"] == "done", d["error"]
    assert [(a["start_step"], a["outcome"]) for a in d["attempts"]] == [(0, "requeued"), (15, "done")]
    assert not leftover.exists(), "unfinished checkpoint writes are removed when the job starts"
    said = [line for line in capsys.readouterr().out.splitlines() if "step_00000017.pt" in line]
    assert said and "step_00000015.pt" in said[0], "the job's log says which checkpoint it skipped and used"
    note = d["metrics"]["checkpoint_fallback"]
    assert "step_00000017.pt" in note and "step_00000015.pt" in note


def test_when_no_checkpoint_loads_the_job_fails_with_the_newest_ones_reason(home, one_thread):
    job = aetui_json(home, "queue", *SMALL, "--steps", "40")["id"]
    ckpts = Path(aetui_json(home, "show", str(job))["run_dir"]) / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "step_00000010.pt").write_text("garbage")
    (ckpts / "step_00000020.pt").write_text("garbage")
    d = run_here(home, job)
    assert d["status"] == "failed"
    assert "step_00000020.pt" in d["error"] and "is not a plain checkpoint" in d["error"], d["error"]


# ------------------------------------------------------------------ a diverged model asked to stop

def test_a_diverged_model_asked_to_stop_is_never_checkpointed(home, one_thread):
    import torch

    # no loss check before step 1000: only the stop path could checkpoint the diverged weights
    job = aetui_json(home, "queue", *SMALL, "--steps", "2000", "--lr", "1e30", "--log-every", "1000",
                     "--checkpoint-every", "1000")["id"]
    d = run_here(home, job, before_step(20))
    run_dir = Path(d["run_dir"])
    for path in (run_dir / "checkpoints").glob("*.pt") if (run_dir / "checkpoints").is_dir() else []:
        state = torch.load(path, weights_only=True)
        assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point()), path.name
    assert d["status"] == "failed" and d["error"].startswith("diverged at step "), d["error"]


# ------------------------------------------------------------------ TensorBoard after a restart from 0

@pytest.mark.slow
def test_resuming_from_step_0_leaves_no_duplicated_tensorboard_points(home, one_thread):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    job = aetui_json(home, "queue", *SMALL, "--steps", "15")["id"]
    run_dir = Path(aetui_json(home, "show", str(job))["run_dir"])
    run_dir.mkdir(parents=True)
    (run_dir / "checkpoints").write_text("a file in the way")  # the first checkpoint (step 10) fails
    d = run_here(home, job)
    assert d["status"] == "failed"
    (run_dir / "checkpoints").unlink()
    aetui(home, "retry", str(job))
    d = run_here(home, job)
    assert d["status"] == "done", d["error"]
    assert [a["start_step"] for a in d["attempts"]] == [0, 0]

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    for tag in acc.Tags()["scalars"]:
        steps = [e.step for e in acc.Scalars(tag)]
        assert steps == sorted(set(steps)), f"{tag}: {steps}"
    assert [e.step for e in acc.Scalars("train/loss")] == [5, 10, 15]


@pytest.mark.slow
def test_a_run_resumed_from_its_final_checkpoint_keeps_its_final_loss(home, one_thread):
    """A job killed after writing `final.pt` but before recording its run resumes from it
    with nothing left to train: its final loss comes from the checkpoint, not from a record
    that was never written."""
    import sqlite3

    job = aetui_json(home, "queue", *SMALL, "--steps", "10")["id"]
    d = run_here(home, job)
    assert d["status"] == "done", d["error"]
    final_loss = d["metrics"]["final_loss"]
    assert isinstance(final_loss, float)
    # what such a kill leaves: the job back in the queue, its run without metrics
    con = sqlite3.connect(home / "aetui.db")
    with con:
        con.execute("UPDATE job SET status = 'queued', ended_at = NULL WHERE id = ?", (job,))
        con.execute("UPDATE run SET metrics = '{}' WHERE id = ?", (job,))
    con.close()

    d = run_here(home, job)
    assert d["status"] == "done", d["error"]
    assert d["attempts"][-1]["start_step"] == 10
    assert d["metrics"]["final_loss"] == final_loss


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_a_new_tensorboard_writer_sorts_after_an_earlier_attempts_event_file(tmp_path):
    """TensorBoard reads event files in name order, and the name starts with the second it
    was made: an earlier attempt's file of this second (here: of the next one) must not sort
    after the new writer's, or its points would outlive the new attempt's purge."""
    import time

    import torch.utils.tensorboard  # noqa: F401  (imported now: the file below is of the next seconds)

    from aetui.experiments.tensorboard import writer

    tb = tmp_path / "tb"
    tb.mkdir()
    earlier = tb / f"events.out.tfevents.{int(time.time()) + 2:010d}.host.99999.9"
    earlier.write_bytes(b"")
    writer(tmp_path, start_step=0).close()
    names = sorted(p.name for p in tb.glob("events.out.tfevents.*"))
    assert len(names) == 2 and names[0] == earlier.name, names
