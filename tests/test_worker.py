"""A queued job, a real worker process, a run in SQLite and TensorBoard; signals and resume."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aetui.run_summary import SUMMARY_FIELDS
from tests.conftest import ROOT, TINY, aetui, aetui_json, cli_env, wait_for


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """TensorBoard scalars of a run, read with tensorboard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}, acc


def start_worker(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "aetui", "worker", *args], cwd=ROOT, env=cli_env(home),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> dict:
    """One tiny training job, queued and run by a real worker process, once for the module:
    the tests below only read its home (`aetui show --json`'s dict of the job)."""
    home = tmp_path_factory.mktemp("tiny-run") / "home"
    job = aetui_json(home, "queue", *TINY, "--steps", "30", "--eval-every", "10", "--device", "cpu")
    worker = subprocess.run([sys.executable, "-m", "aetui", "worker", "--until-empty"], cwd=ROOT, env=cli_env(home),
                            capture_output=True, text=True, timeout=300)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    return aetui_json(home, "show", str(job["id"]))


@pytest.mark.slow
def test_queue_worker_run_tensorboard_checkpoint(tiny_run):
    d = tiny_run
    assert d["status"] == "done", d["error"]
    assert d["steps_done"] == 30 and d["step"] == 30
    m = d["metrics"]
    for key in (*SUMMARY_FIELDS, "device"):  # every field the run screen and `aetui show` lead with
        assert key in m
    assert m["device"] == "cpu" and m["images_per_s"] > 0 and 0 < m["final_loss"] < 1
    assert [(a["number"], a["start_step"], a["outcome"]) for a in d["attempts"]] == [(1, 0, "done")]
    run_dir = Path(d["run_dir"])
    assert (run_dir / "stdout.log").read_text().startswith("aetui: job 1")
    assert (run_dir / "stderr.log").exists()

    curves, acc = scalars(run_dir)
    assert [s for s, _ in curves["train/loss"]] == [5, 10, 15, 20, 25, 30]
    assert {"train/lr", "train/images_per_s"} <= set(curves)
    assert all(v == pytest.approx(1e-4) for _, v in curves["train/lr"])
    # the held-out curve while it trains (--eval-every 10), its last point the recorded metric
    assert [s for s, _ in curves["heldout/mse"]] == [10, 20, 30]
    assert curves["heldout/mse"][-1][1] == pytest.approx(m["heldout_mse"], rel=1e-5)
    images = acc.Tags()["images"]
    assert any(t.startswith("images/input") for t in images) and any(t.startswith("images/reconstruction") for t in images)
    assert any(t.startswith("images/denoised") for t in images)
    assert (run_dir / "images" / "recon_00000030.png").is_file()

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    hp = EventAccumulator(str(run_dir / "tb"))
    hp.Reload()
    assert "hparams" in hp.PluginTagToContent("hparams") or hp.PluginTagToContent("hparams")

    import torch

    from aetui.models import build

    state = torch.load(run_dir / "checkpoints" / "final.pt", weights_only=True)
    model = build("unet", 32, base_width=4, depth=2)
    model.load_state_dict(state["model"])
    assert state["step"] == 30 and state["config"]["options"]["base_width"] == 4


@pytest.mark.slow
def test_training_reports_its_first_step_apart(tiny_run):
    """(Was in test_fast_paths.py, with a training of its own.)"""
    m = tiny_run["metrics"]
    assert m["first_step_s"] > 0 and m["compile_s"] is None and m["images_per_s"] > 0
    assert m["train_s"] >= m["first_step_s"]


@pytest.mark.slow
def test_sigterm_to_worker_checkpoints_requeues_and_resume_continues(home):
    job = aetui_json(home, "queue", *TINY, "--steps", "150", "--checkpoint-every", "1000")
    worker = start_worker(home)
    try:
        wait_for(lambda: aetui_json(home, "show", "1")["step"] >= 20, timeout=180)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, out
    d = aetui_json(home, "show", str(job["id"]))
    assert d["status"] == "queued", out
    stopped_at = d["step"]
    assert stopped_at >= 20 and d["attempts"][0]["outcome"] == "requeued"
    assert list((Path(d["run_dir"]) / "checkpoints").glob("step_*.pt"))

    subprocess.run([sys.executable, "-m", "aetui", "worker", "--until-empty"], cwd=ROOT, env=cli_env(home),
                   check=True, capture_output=True, timeout=300)
    d = aetui_json(home, "show", "1")
    assert d["status"] == "done" and d["steps_done"] == 150
    assert [(a["start_step"], a["outcome"]) for a in d["attempts"]] == [(0, "requeued"), (stopped_at, "done")]
    curves, _ = scalars(Path(d["run_dir"]))
    steps = [s for s, _ in curves["train/loss"]]
    assert steps == list(range(5, 151, 5)), "TensorBoard curve must continue without duplicated or missing points"


@pytest.mark.slow
def test_cancel_running_job_stops_it(home):
    aetui(home, "queue", *TINY, "--steps", "100000")
    worker = start_worker(home, "--until-empty")
    try:
        wait_for(lambda: aetui_json(home, "show", "1")["step"] > 0, timeout=180)
        assert aetui_json(home, "cancel", "1")["status"] == "running"
        out, _ = worker.communicate(timeout=90)
    finally:
        worker.kill()
    d = aetui_json(home, "show", "1")
    assert d["status"] == "cancelled", out
    assert d["attempts"][-1]["outcome"] == "cancelled" and d["ended_at"]
    assert aetui_json(home, "retry", "1")["status"] == "queued"


def test_the_docs_quote_the_worker_timings_from_their_one_home():
    """The timings live in aetui/worker/defaults.py (the lease in store.queue); the docs
    quote their numbers, so a change there shows up here."""
    from aetui.worker.defaults import HEARTBEAT_S, SLURM_POLL_S
    from store.queue import LEASE_S

    def text(name: str) -> str:
        return " ".join((ROOT / "docs" / name).read_text().split())

    queue_md, scale_md = text("queue.md"), text("scale-out.md")
    assert f"heartbeat renews every {HEARTBEAT_S:g} s for {LEASE_S:g} s" in queue_md
    assert f"no heartbeat for {LEASE_S:g} s" in queue_md
    assert f"renews the lease of each job it runs every {HEARTBEAT_S:g} s" in scale_md
    assert f"({LEASE_S:g} s without a heartbeat" in scale_md
    assert f"`scontrol show job` every {SLURM_POLL_S:g} s" in scale_md
