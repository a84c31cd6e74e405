"""`aetui worker --executor slurm` on a real one-node Slurm cluster (`.ci/slurm.sh`):
jobs submitted through submitit, run, recorded, cancelled, and resumed from their
checkpoint after Slurm requeued them (`scontrol requeue`, and submitit's USR2 path)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.backends import require_slurm
from tests.conftest import ROOT, TINY, aetui, aetui_json, cli_env, wait_for

pytestmark = pytest.mark.slow  # a Slurm cluster (a service)


def slurm(*args: str) -> str:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, timeout=60).stdout


def slurm_info(slurm_id: str) -> dict[str, str]:
    from aetui.worker.executors import slurm_job

    return slurm_job(slurm_id) or {}


PENDING_SETTLE_S = 5.0
_pending_since: dict[tuple[str, int], float] = {}


def requeued(slurm_id: str, restarts: int) -> bool:
    """Once Slurm has requeued the job `restarts` times, make it eligible soon: Slurm holds a
    requeued job back for about two minutes (BeginTime) before it may start again. Not at
    once: slurmd refuses to launch a job it is still killing ("Job credential revoked", the
    job then FAILED), so the job stays pending a few seconds first, as the hold would keep it."""
    info = slurm_info(slurm_id)
    if int(info.get("Restarts", 0)) >= restarts and info.get("JobState") == "PENDING":
        since = _pending_since.setdefault((slurm_id, restarts), time.monotonic())
        if time.monotonic() - since < PENDING_SETTLE_S:
            return False
        slurm("scontrol", "update", f"jobid={slurm_id}", "StartTime=now")
        return True
    return False


@pytest.mark.timeout(900)
def test_slurm_run_requeue_resume_and_cancel(home: Path, procs):
    require_slurm()
    tiny = [*TINY, "--image-every", "1000"]
    long = aetui_json(home, "queue", *tiny, "--steps", "100000", "--checkpoint-every", "5", "--priority", "1")["id"]
    plain = aetui_json(home, "queue", *tiny, "--steps", "10")["id"]
    log = open(home / "worker.out", "w")
    worker = procs.start(
        [sys.executable, "-m", "aetui", "worker", "--executor", "slurm", "--until-empty", "--poll", "0.5",
         "--time", "15", "--mem", "1G", "--cpus-per-job", "1", "--max-jobs", "2", "--slurm-opt", "comment=aetui-test"],
        cwd=ROOT, env=cli_env(home), stdout=log, stderr=subprocess.STDOUT, text=True)

    def show(job_id: int) -> dict:
        return aetui_json(home, "show", str(job_id))

    def resumed_after(step: int):
        """The job resumed from a checkpoint past `step` and trained on: its attempt's start."""
        d = show(long)
        start = d["attempts"][0]["start_step"]
        return start if start > step and d["step"] > start else None

    try:
        # Slurm requeues the running job (SIGTERM): it checkpoints, stays `running`, resumes
        wait_for(lambda: show(long)["step"] >= 10, 180, "the job to train", every=0.5)
        sid = show(long)["slurm"]["job_id"]
        slurm("scontrol", "requeue", sid)
        wait_for(lambda: requeued(sid, 1), 180, "slurm to requeue the job", every=0.5)
        first = wait_for(lambda: resumed_after(0), 180, "the job to resume after scontrol requeue", every=0.5)
        # submitit's path (a time-out's USR2): SlurmTask.checkpoint, then submitit requeues it
        slurm("scancel", "--signal=USR2", sid)
        # generous limits: on a loaded 2-core machine the checkpoint, submitit's requeue and
        # Slurm's scheduling pass each wait for a core
        wait_for(lambda: requeued(sid, 2), 300, "submitit to requeue the job", every=0.5,
                 why=lambda: slurm_info(sid))
        second = wait_for(lambda: resumed_after(first), 300, "the job to resume after USR2", every=0.5,
                          why=lambda: (slurm_info(sid), show(long)["attempts"]))
        # `aetui cancel` -> the worker's scancel (submitit's job.cancel) -> the task records it
        aetui(home, "cancel", str(long))
        assert worker.wait(timeout=240) == 0
    finally:
        if worker.poll() is None:
            worker.terminate()
            worker.wait(60)
        log.close()
    out = (home / "worker.out").read_text()

    d = show(plain)
    assert d["status"] == "done" and d["step"] == 10, out
    sl = d["slurm"]
    assert sl["state"] == "COMPLETED" and sl["job_id"].isdigit() and sl["node"] == d["host"]
    assert f"aetui: job {plain} in slurm job {sl['job_id']}" in Path(sl["stdout"]).read_text()
    assert "#SBATCH --comment=aetui-test" in Path(sl["folder"], f"{sl['job_id']}_submission.sh").read_text()
    assert [a["device"] for a in d["attempts"]] == ["slurm"]
    d_plain_cpu = d["attempts"][0]["usage"]["cpu_s"]
    assert d_plain_cpu > 0  # metered on its node (no GPU there: no GPU figures)

    d = show(long)
    assert d["status"] == "cancelled" and d["error"] == "cancelled by user", out
    # the task may see the cancel in the store (its heartbeat) and end by itself before the
    # worker's scancel lands (Slurm then says COMPLETED), or be cancelled by Slurm first:
    # both are a cancel that checkpointed and was recorded (aetui/worker/slurm_task.py)
    ended = d["slurm"]["state"]
    assert ended in ("CANCELLED", "COMPLETED") and d["slurm"]["restarts"] == 2 and d["slurm"]["job_id"] == sid
    (attempt,) = d["attempts"]  # one claim: Slurm requeued it, aetui did not
    assert attempt["outcome"] == "cancelled" and attempt["start_step"] == second > first >= 10
    assert attempt["end_step"] > second
    assert attempt["usage"]["cpu_s"] > d_plain_cpu  # three runs on the node, each adding to the last
    text = Path(d["slurm"]["stdout"]).read_text()
    assert text.count(f"aetui: job {long} in slurm job {sid}") == 3
    assert "slurm asks to checkpoint" in text
    assert slurm_info(sid).get("JobState") in (None, ended)
    detail = subprocess.run([sys.executable, "-m", "aetui", "show", str(long)], cwd=ROOT, env=cli_env(home),
                            capture_output=True, text=True, timeout=120).stdout
    assert f"job {sid} {ended} on {d['host']}, 2 restarts" in " ".join(detail.split())


def test_slurm_options_reach_sbatch():
    from aetui.worker.executors import SlurmExecutor, parse_minutes, parse_opts

    assert [parse_minutes(t) for t in ("30", "1:30", "4:00:00", "2-00", "1-02:30:00")] == [30, 2, 240, 2880, 1590]
    with pytest.raises(ValueError, match="--time"):
        parse_minutes("soon")
    ex = SlurmExecutor(partition="gpu", gpus_per_job=1, time="4:00:00", mem="32G", account="lab",
                       extra=parse_opts(["qos=high", "exclusive"]))
    params = ex.parameters(7)
    assert params["partition"] == "gpu" and params["gpus_per_node"] == 1 and params["time"] == 240
    assert params["mem"] == "32G" and params["account"] == "lab" and params["job_name"] == "aetui-7"
    assert params["additional_parameters"] == {"qos": "high", "exclusive": True}


def test_worker_without_slurm_says_so(home, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    result = aetui(home, "worker", "--executor", "slurm", "--until-empty", check=False)
    assert result.returncode == 2 and "sbatch` is not on PATH" in result.stderr
