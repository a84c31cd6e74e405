"""Command jobs (`aetui add -- CMD ...`): any program through the real CLI and real
workers; its environment, its TensorBoard scalars and pictures read back by the dashboard's data layer,
`log -f` and `wait`, retry with the next attempt, cancel and a worker killed with -9 ending
the command's whole process group, the shared-store and held-GPU rules, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import PROCESS_TAG, ROOT, aetui, aetui_json, cli_env, wait_for

SCRIPT = str(ROOT / "examples" / "train_script.py")
# dumps its environment and working folder, as the worker gave them
DUMP_ENV = "import json, os; json.dump({'env': dict(os.environ), 'cwd': os.getcwd()}, open(os.environ['AETUI_RUN_DIR'] + '/env.json', 'w'))"
# a command with a grandchild that ignores SIGTERM (only the group's SIGKILL ends it); writes their pids
KID = ("import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
       "open(os.environ['AETUI_RUN_DIR'] + '/pids', 'w').write(f'{os.getppid()} {os.getpid()}'); time.sleep(600)")
FAMILY = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {KID!r}]); time.sleep(600)"


def tag_env() -> list[str]:
    """The test's process tag for the command (its environment is filtered): whatever it
    leaves behind is then found and killed when the test ends."""
    return ["--env", f"{PROCESS_TAG}={os.environ[PROCESS_TAG]}"]


def worker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "aetui", "worker", "--poll", "0.2", *args]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def in_group(pgid: int) -> list[int]:
    """Live processes of a process group, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


def run_dir(home: Path, job_id: int) -> Path:
    return Path(aetui_json(home, "show", str(job_id))["run_dir"])


@pytest.mark.slow
def test_command_jobs_run_with_their_environment_log_wait_retry_scalars_and_pictures(home, tmp_path, procs, monkeypatch):
    from aetui.home import Home
    from aetui.jobs import job_detail
    from aetui.tui.data.curves import read_scalars, scalar_tags
    from aetui.tui.data.images import load
    from aetui.tui.data.results import load_results

    monkeypatch.setenv("SECRET_TOKEN", "do-not-store")  # in the queueing shell: must not travel
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")  # inherited everywhere: the worker's pinning wins
    monkeypatch.setenv("LC_TIME", "C")
    py = sys.executable
    train = aetui(home, "add", "--name", "toy", *tag_env(), "--", py, SCRIPT, "--steps", "5", "--crash-at", "3").stdout.split()[0]
    dump = aetui(home, "add", "--gpus", "2", "--cwd", str(tmp_path), "--env", "FOO=bar=baz", *tag_env(), "--", py, "-c",
                 DUMP_ENV).stdout.split()[0]
    env = cli_env(home)
    follow = procs.start([py, "-m", "aetui", "log", "-f", train], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    procs.start(worker_cmd("--devices", "cpu:0,cpu:1,cpu:2"), cwd=ROOT, env=env,
                stdout=open(tmp_path / "worker.log", "ab"), stderr=subprocess.STDOUT)

    # wait: until both have ended, exit 1 as one failed; log -f: its whole output, then it exits
    waited = aetui(home, "wait", train, dump, check=False)
    assert waited.returncode == 1 and f"job {train}: failed (exit code 3: crashing on purpose)" in waited.stdout
    assert f"job {dump}: done" in waited.stdout, waited.stdout
    out, _ = follow.communicate(timeout=60)
    assert follow.returncode == 0 and "attempt 1: starting at step 0" in out and "step 3/5" in out, out

    # the environment: what a program needs, --env, the worker's own; nothing else
    folder = run_dir(home, int(dump))
    seen = json.loads((folder / "env.json").read_text())
    given = seen["env"]
    assert seen["cwd"] == str(tmp_path)
    assert "SECRET_TOKEN" not in given and given["FOO"] == "bar=baz" and given["LC_TIME"] == "C"
    assert given["PATH"] == os.environ["PATH"]
    assert given["AETUI_JOB_ID"] == dump and given["AETUI_RUN_DIR"] == str(folder)
    assert given["AETUI_TB_DIR"] == str(folder / "tb") and given["AETUI_ATTEMPT"] == "1"
    assert given["CUDA_VISIBLE_DEVICES"] == "" and given["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # a CPU worker
    from aetui.specs.command import CARRIED_ENV, WORKER_ENV
    extra = {k for k in given if k not in CARRIED_ENV and not k.startswith("LC_") and k not in WORKER_ENV}
    assert extra <= {"FOO", PROCESS_TAG, "PWD", "SHLVL", "_"}, extra
    # --gpus 2: one process that holds both devices, not a rank on each
    assert len(aetui_json(home, "show", dump)["device"].split(",")) == 2
    assert aetui(home, "log", dump).stdout.count(f"aetui: job {dump} on") == 1

    # retry: the next attempt resumes from the checkpoint the first one left
    aetui(home, "retry", train)
    assert aetui(home, "wait", train).returncode == 0
    logged = aetui(home, "log", train).stdout
    assert "attempt 2: starting at step 3" in logged and "step 5/5" in logged, logged
    assert aetui_json(home, "show", train)["last_line"].startswith("step 5/5 loss")  # the table's progress

    # its TensorBoard scalars, through the dashboard's data layer
    trained = run_dir(home, int(train))
    assert {"train/loss", "toy/w"} <= set(scalar_tags(trained))
    losses = read_scalars(trained, "train/loss")
    assert [s for s, _ in losses] == [1, 2, 3, 4, 5] and losses[-1][1] < losses[0][1]
    assert len(read_scalars(trained, "toy/w")) == 5
    # and its pictures (every 2 steps, over both attempts): the run's album, as the dashboard shows it
    d = job_detail(Home.resolve(home), int(train))
    results = load_results(d["kind"], d["run_dir"], d["artifacts"], d["results"])
    assert [a.name for a in results.albums] == ["toy/picture"] and results.album("toy/picture").steps() == [2, 4]
    assert load(results.latest().source).size == (16, 16)


@pytest.mark.slow
def test_cancel_and_a_killed_worker_end_the_whole_process_group(home, tmp_path, procs):
    py = sys.executable
    env = cli_env(home)
    log = open(tmp_path / "worker.log", "ab")
    worker = procs.start(worker_cmd("--grace", "0.5"), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def family(job: str) -> tuple[int, int]:
        pids = run_dir(home, int(job)) / "pids"
        text = wait_for(lambda: pids.exists() and pids.read_text(), what=f"job {job}'s processes")
        parent, kid = map(int, text.split())
        assert alive(parent) and alive(kid) and os.getpgid(kid) == parent  # one group, the command's own
        return parent, kid

    # cancel: SIGTERM to the group, SIGKILL after the grace for the grandchild that ignores it
    job = aetui(home, "add", *tag_env(), "--", py, "-c", FAMILY).stdout.split()[0]
    parent, kid = family(job)
    aetui(home, "cancel", job)
    assert aetui(home, "wait", job, check=False).returncode == 1
    assert aetui_json(home, "show", job)["status"] == "cancelled"
    wait_for(lambda: not in_group(parent), timeout=10, what="the group to be gone")
    assert not alive(parent) and not alive(kid)

    # the worker killed with -9: its child ends the group (no orphan holds the GPU), the job is requeued
    job = aetui(home, "add", *tag_env(), "--", py, "-c", FAMILY).stdout.split()[0]
    parent, kid = family(job)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    wait_for(lambda: not in_group(parent), timeout=30, what="the group to end after the worker died")
    assert not alive(kid)
    shown = wait_for(lambda: (d := aetui_json(home, "show", job))["status"] == "queued" and d, what="the requeue")
    assert [a["outcome"] for a in shown["attempts"]] == ["requeued"]


def test_the_table_shows_a_running_command_s_time_and_last_line():
    from aetui.tui.data.rows import JobRow
    from aetui.tui.widgets.job_table import cell_text

    now = time.time()
    row = JobRow(id=1, kind="command", status="running", label="python train.py", model=None, res=None, priority=0,
                 device="cpu", step=0, total_steps=0, loss=None, images_per_s=None, eta_s=None, parent_id=None,
                 error=None, last_line="epoch 3 loss 0.12", created_at=now - 9000, updated_at=now,
                 started_at=now - 7200, attempt_started_at=now - 75)
    assert cell_text(row, "progress", 40) == "1m15s epoch 3 loss 0.12"


def test_a_retried_command_s_time_counts_from_this_attempt_not_the_first_start(home):
    """The first attempt started two hours ago and failed; after `aetui retry` the running
    attempt is seconds old. Each of the table's readers (the first paint's sqlite3, the
    window and the live changes through SQLAlchemy) gives this attempt's time; the job's
    first start stays what `aetui show` says as `started`."""
    import sqlite3

    from aetui.home import Home
    from aetui.tui.data.window import JobQuery, fetch_changes, fetch_window, first_page
    from aetui.tui.widgets.job_table import cell_text
    from store import queue
    from store.states import JobStatus

    job = int(aetui(home, "add", "--", "true").stdout.split()[0])
    h = Home.resolve(home)
    db = h.db
    assert queue.claim(db, worker="w", host="h", pid=1, device="cpu").id == job
    queue.finish(db, job_id=job, worker="w", status=JobStatus.FAILED, error="exit 1")
    db.dispose()
    with sqlite3.connect(home / "aetui.db") as con:  # that attempt was two hours ago
        con.execute("UPDATE job SET started_at = started_at - 7200 WHERE id = ?", (job,))
        con.execute("UPDATE attempt SET started_at = started_at - 7200, ended_at = ended_at - 7000 WHERE job_id = ?",
                    (job,))
    con.close()
    aetui(home, "retry", str(job))
    db = h.db
    assert queue.claim(db, worker="w", host="h", pid=1, device="cpu").id == job
    first_start = aetui_json(home, "show", str(job))["started_at"]
    rows = {"first paint": first_page(h.db_url, 10)[0], "window": fetch_window(db, JobQuery(), 0, 10)[0],
            "changes": fetch_changes(db, JobQuery(), 0.0).rows}
    for reader, found in rows.items():
        (row,) = [r for r in found if r.id == job]
        shown = cell_text(row, "progress", 40)
        assert shown in {f"{s}s" for s in range(60)}, (reader, shown)  # seconds, not 2h00m
        assert row.started_at < row.attempt_started_at - 7000, reader
    assert aetui_json(home, "show", str(job))["started_at"] == first_start  # the first start, kept


def test_bad_input_exits_2_and_writes_nothing(home, tmp_path):
    for args, says in ((["add"], "no command after --"), (["add", "--"], "no command after --"),
                       (["add", "--env", "NOVALUE", "--", "true"], "--env 'NOVALUE': expected KEY=VALUE"),
                       (["add", "--env", "1X=2", "--", "true"], "expected KEY=VALUE"),
                       (["add", "--env", "AETUI_ATTEMPT=5", "--", "true"], "set by the worker"),
                       (["add", "--cwd", str(tmp_path / "nope"), "--", "true"], "no such folder"),
                       (["add", "--gpus", "2", "--device", "cpu", "--", "true"], "leave --device at auto"),
                       (["log", "3"], "no job 3"), (["wait", "3"], "no job 3"),
                       (["wait", "--timeout", "-1"], "--timeout -1.0: a number at least 0")):
        result = aetui(home, *args, check=False)
        assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
    assert not home.exists()  # nothing written, not even the home


def test_a_shared_store_runs_commands_only_when_allowed_and_a_slurm_worker_never(home):
    """The rule on a worker: kinds it skips are neither claimed nor waited for. A Slurm
    worker (`--executor slurm`) leaves command jobs to local workers, and says so once
    (its executor is never asked to start one: no Slurm needed here)."""
    from aetui.home import Home
    from aetui.worker.executors import SlurmExecutor
    from aetui.worker.supervisor import Worker

    job = aetui(home, "add", "--", "true").stdout.split()[0]
    said: list[str] = []
    worker = Worker(Home.resolve(home), ["cpu"], until_empty=True, poll_s=0.05, log=said.append, run_commands=False)
    assert worker.run() == 0
    assert aetui_json(home, "show", job)["status"] == "queued"
    assert any("--allow-commands" in line for line in said) and any("queue empty" in line for line in said)

    said.clear()
    slurm = Worker(Home.resolve(home), ["cpu"], until_empty=True, poll_s=0.05, log=said.append, run_commands=True)
    slurm.executor = SlurmExecutor()
    assert slurm.run() == 0
    assert [line for line in said if "command jobs" in line] == [
        "command jobs are left to local workers: --executor slurm does not run them "
        "(start `aetui worker` without it for those)"]
    assert any("queue empty" in line for line in said)
    assert aetui(home, "wait", job, "--timeout", "0", check=False).returncode == 1  # still queued


class HeldCards:
    """The calls of the pynvml API the worker makes, for two cards: a process of another
    user computes on cuda:1; this process (the worker's own job, as it were) on cuda:0."""

    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetHandleByIndex(self, i: int):
        return i

    def nvmlDeviceGetHandleByUUID(self, uuid: str):
        return int(uuid.rsplit("-", 1)[1])

    def nvmlDeviceGetUUID(self, h):
        return f"GPU-fake-{h}".encode()

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        class P:
            def __init__(self, pid: int) -> None:
                self.pid = pid

        return [P(os.getpid())] if h == 0 else [P(1)]


def test_gpus_other_processes_hold_are_not_free_unless_shared_and_devices_are_pinned_by_uuid(home, monkeypatch):
    from aetui.home import Home
    from aetui.worker import devices
    from aetui.worker.supervisor import Worker

    monkeypatch.setitem(sys.modules, "pynvml", HeldCards())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    h = Home.resolve(home)
    said: list[str] = []
    assert Worker(h, ["cuda:0", "cuda:1"], log=said.append).free() == ["cuda:0"]
    assert any("cuda:1: held by processes that are not this worker's" in line for line in said)
    assert Worker(h, ["cuda:0", "cuda:1"], share=True).free() == ["cuda:0", "cuda:1"]
    assert devices.pinned_visible(["cuda:1", "cuda:0"]) == "GPU-fake-1,GPU-fake-0"
    assert devices.pinned_visible(["cpu"]) == ""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")  # the worker's own view: its cuda:0 is card 1
    assert devices.pinned_visible(["cuda:0"]) == "GPU-fake-1"
    assert devices.held_by_others(["cuda:0"]) == {"cuda:0"}
