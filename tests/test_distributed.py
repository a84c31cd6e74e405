"""Data-parallel training on CPU slots: one process per slot joined by gloo, as the NCCL
path joins one process per GPU (no GPU here: that path is the same code with another
backend). A 2-process job against a 1-process job on the same global batch; a rank
killed mid-run; SyncBatchNorm refused on the CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, aetui_json, cli_env

pytestmark = pytest.mark.slow  # real training in several processes, a rank killed

# attn-unet normalises with GroupNorm: no batch statistics, so 2 x 4 images == 1 x 8 images
TINY = ["attn-unet", "--res", "32", "--base-width", "8", "--depth", "1", "--data", "builtin:64",
        "--batch-size", "8", "--lr", "1e-3", "--image-every", "1000"]
SLOTS = ["--devices", "cpu:0,cpu:1"]


def env_for(home: Path) -> dict[str, str]:
    env = cli_env(home)
    env["OMP_NUM_THREADS"] = "1"  # 2 ranks on 2 shared cores
    return env


def worker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "aetui", "worker", *SLOTS, "--until-empty", "--poll", "0.2", "--grace", "5", *args]


def alive(pid: int) -> bool:
    """Running (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, OSError):
        return False


def processes_of(home: Path) -> list[int]:
    """Live processes whose command line names this home (workers and job processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(home) in cmd and int(entry.name) != os.getpid() and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return out


def losses(run_dir: Path) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars("train/loss")]


def test_two_processes_train_like_one_on_the_same_global_batch(home):
    from aetui.experiments.distributed import SYNC_BN_CPU

    two = aetui_json(home, "queue", *TINY, "--steps", "6", "--log-every", "2", "--gpus", "2")
    one = aetui_json(home, "queue", *TINY, "--steps", "6", "--log-every", "2")
    sync = aetui_json(home, "queue", *TINY, "--gpus", "2", "--sync-bn")
    assert two["gpus"] == 2 and "gpus=2" in two["label"]
    proc = subprocess.run(worker_cmd(), cwd=ROOT, env=env_for(home), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    d2, d1, ds = (aetui_json(home, "show", str(j["id"])) for j in (two, one, sync))
    assert d2["status"] == d1["status"] == "done", (d2["error"], d1["error"], proc.stdout)
    assert d2["device"] == "cpu:0,cpu:1" and [a["device"] for a in d2["attempts"]] == ["cpu:0,cpu:1"]
    assert d2["metrics"]["world_size"] == 2 and d2["metrics"]["batch_size"] == 8 and d2["steps_done"] == 6
    assert d2["metrics"]["images_per_s"] > 0 and "world_size" not in d1["metrics"]
    run2, run1 = Path(d2["run_dir"]), Path(d1["run_dir"])
    first_line = (run2 / "stdout.rank1.log").read_text().splitlines()[0]  # the second process's own log
    assert first_line == f"aetui: job {two['id']} on cpu (lease {d2['attempts'][0]['worker']})", first_line
    assert (run2 / "images" / "recon_00000006.png").is_file()

    # the same losses (each logged value is the mean over both processes' shares)
    l2, l1 = losses(run2), losses(run1)
    assert [s for s, _ in l2] == [s for s, _ in l1] == [2, 4, 6]
    assert [v for _, v in l2] == pytest.approx([v for _, v in l1], rel=1e-5)

    # the same parameters, to float rounding. Adam's first updates are ~lr * sign(grad), so
    # a parameter whose true gradient is 0 moves by +-lr on rounding noise: the conv biases
    # right before a per-channel GroupNorm. Everything else agrees to 1e-5.
    import torch

    p2 = torch.load(run2 / "checkpoints" / "final.pt", weights_only=True)["model"]
    p1 = torch.load(run1 / "checkpoints" / "final.pt", weights_only=True)["model"]
    noisy = {k for k in p1 if (p1[k] - p2[k]).abs().max() > 1e-5}
    assert all(k.endswith(".bias") and (p1[k] - p2[k]).abs().max() <= 2 * 6 * 1e-3 for k in noisy), noisy
    assert sum(p1[k].numel() for k in noisy) < 0.01 * sum(v.numel() for v in p1.values())

    # torch's SyncBatchNorm does not run on the CPU: the job says so and fails at once
    assert ds["status"] == "failed" and ds["error"] == SYNC_BN_CPU


def test_killing_one_rank_stops_the_job_and_it_resumes_on_two_devices(home, procs):
    from aetui.home import Home
    from aetui.run_owner import resolve
    from aetui.worker.gang import BROKEN
    from store import queries

    job = aetui_json(home, "queue", *TINY, "--steps", "30", "--log-every", "5", "--checkpoint-every", "5",
                     "--gpus", "2")
    db = Home.resolve(home).db
    log = open(home.parent / "worker.log", "wb")
    worker = procs.start(worker_cmd(), cwd=ROOT, env=env_for(home), stdout=log, stderr=subprocess.STDOUT)
    try:
        ckpt = resolve(home, queries.get_run(db, job["id"]).run_dir) / "checkpoints" / "step_00000010.pt"
        deadline = time.time() + 300
        while not ckpt.is_file() and time.time() < deadline and worker.poll() is None:
            time.sleep(0.2)
        assert ckpt.is_file(), (home.parent / "worker.log").read_text()
        (first,) = queries.attempts(db, job["id"])
        ranks = children_of(worker.pid)
        assert len(ranks) == 2 and first.pid in ranks
        (rank1,) = [p for p in ranks if p != first.pid]
        os.kill(rank1, signal.SIGKILL)

        deadline = time.time() + 120
        while queries.attempts(db, job["id"])[0].outcome == "running" and time.time() < deadline:
            time.sleep(0.1)
        assert not alive(rank1) and not alive(first.pid), "a rank outlived its job"
        assert worker.wait(timeout=300) == 0
    finally:
        worker.kill()
        log.close()
    out = (home.parent / "worker.log").read_text()
    d = aetui_json(home, "show", str(job["id"]))
    assert d["status"] == "done" and d["steps_done"] == 30 and d["step"] == 30, (d["error"], out)
    a1, a2 = d["attempts"]
    assert a1["outcome"] == "requeued" and a1["error"].startswith(BROKEN) and "rank 1 of 2" in a1["error"]
    assert "killed by signal 9" in a1["error"]
    assert a2["outcome"] == "done" and a2["start_step"] >= 10 and a2["device"].count(",") == 1
    assert [s for s, _ in losses(Path(d["run_dir"]))] == list(range(5, 31, 5))  # one curve, no gap or repeat
    assert processes_of(home) == []
