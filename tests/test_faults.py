"""Faults that must not stall the queue or lose a job: an unusable runs root (refused at
queue time; at run time a fault of the host leaves the jobs queued, a fault of the job
fails only that job), a job that hangs (stopped as `stalled`), a run folder deleted while
its job runs, and a dead worker's cancelled job. Real worker processes, real signals, real
SQLite; cheap `noop` jobs. Tests run as root here, where chmod does not make a folder
read-only: a read-only tmpfs mount or a file in the way does."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, aetui, aetui_json, cli_env

QUEUE = ["queue", "mlp", "--res", "32", "--data", "builtin:16", "--steps", "1"]


def run_worker(home: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aetui", "worker", "--until-empty", "--poll", "0.2", *args],
                          cwd=ROOT, env=cli_env(home), capture_output=True, text=True, timeout=timeout)


def detail(home: Path, job_id: int) -> dict:
    return aetui_json(home, "show", str(job_id))


def submit(home: Path, *specs: dict) -> list[int]:
    from aetui.home import Home
    from aetui.jobs import submit as submit_jobs

    return [submit_jobs(Home.resolve(home), "noop", [spec])[0].id for spec in specs]


@pytest.fixture
def read_only_mount():
    """`mount(folder)` mounts a read-only tmpfs there (root only); unmounted at the end."""
    mounted: list[Path] = []

    def mount(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def blocked(how: str, folder: Path, read_only_mount) -> None:
    """Make `folder` (not there yet) unusable as a runs root: a file in its place, or a
    read-only mount."""
    if how == "file":
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("not a folder\n")
    else:
        read_only_mount(folder)


# --- item 2a: refused at queue time ---------------------------------------------------------

@pytest.mark.parametrize("where", ["/proc/nope", "file", "under a file", "read-only mount"])
@pytest.mark.parametrize("given", ["--runs-root", "AETUI_RUNS_ROOT"])
def test_queue_refuses_an_unusable_runs_root(home, tmp_path, where, given, read_only_mount, monkeypatch):
    if where == "file":
        root = tmp_path / "a-file"
        root.write_text("x")
    elif where == "under a file":
        (tmp_path / "a-file").write_text("x")
        root = tmp_path / "a-file" / "runs"
    elif where == "read-only mount":
        root = read_only_mount(tmp_path / "ro") / "runs"
    else:
        root = Path(where)
    if given == "--runs-root":
        out = aetui(home, *QUEUE, "--runs-root", str(root), check=False)
    else:  # not a flag the CLI checks: the queue itself refuses it
        from typer.testing import CliRunner

        from aetui.cli import app

        result = CliRunner().invoke(app, QUEUE, env={"AETUI_HOME": str(home), "AETUI_RUNS_ROOT": str(root)})
        out = subprocess.CompletedProcess(QUEUE, result.exit_code, result.stdout, result.stderr)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(root) in lines[0], out.stderr
    assert not home.exists(), "a refused job writes nothing, not even the store"


def test_queue_refuses_a_home_whose_runs_folder_is_a_read_only_mount(home, read_only_mount):
    """The home is fine, its default runs root is not: refused too (`aetui.home.check_runs_root`)."""
    aetui(home, "pause")  # the home and its store exist
    read_only_mount(home / "runs")
    out = aetui(home, *QUEUE, check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.strip() == (f"aetui: error: runs root {home / 'runs'} is not usable: cannot create folders in "
                                  f"{home / 'runs'}: Read-only file system (--runs-root, $AETUI_RUNS_ROOT, else "
                                  "<home>/runs)"), out.stderr
    assert not aetui_json(home, "runs")


def test_queue_takes_a_usable_runs_root_and_leaves_no_probe(home, tmp_path):
    root = tmp_path / "shared" / "runs"
    job = aetui_json(home, *QUEUE, "--runs-root", str(root))
    assert detail(home, job["id"])["run_dir"] == str(root / str(job["id"]))
    assert not (tmp_path / "shared").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["home"]


# --- item 2b: at run time, the host's fault or the job's --------------------------------------

def test_whose_fault_a_run_folder_that_cannot_be_made_is(tmp_path, read_only_mount):
    from aetui.worker.faults import start_fault

    error = OSError(30, "Read-only file system")
    good = tmp_path / "good"
    ro = read_only_mount(tmp_path / "ro")
    (tmp_path / "file").write_text("x")
    # this worker's own runs root is unusable: the host's fault, whatever the job
    assert start_fault(ro / "runs" / "1", error, ro / "runs").host
    assert start_fault(tmp_path / "file" / "1", error, tmp_path / "file").host
    assert start_fault(Path("/proc/nope/1"), error, ro / "runs").host
    # this worker's root is fine: the job's fault (a root only it uses, or its own folder)
    fault = start_fault(Path("/proc/nope/1"), error, good)
    assert not fault.host and fault.reason.startswith("its runs root /proc/nope cannot be written on this host: ")
    fault = start_fault(good / "1", OSError(17, "File exists"), good)
    assert not fault.host and fault.reason == f"its run folder {good / '1'} cannot be made: File exists"


@pytest.mark.parametrize("error, host", [
    (OSError(30, "Read-only file system", "/mnt/runs/1/tb/events"), True),
    (RuntimeError("CUDA error: no CUDA-capable device is detected"), True),
    (RuntimeError("CUDA error: GPU is lost"), True),
    (RuntimeError("cannot save the checkpoint"), False),
    (OSError(28, "No space left on device"), False),  # a full disk is the job's to report (and retry)
    (RuntimeError("CUDA error: an illegal memory access was encountered"), False),
    (ValueError("bad spec"), False),
])
def test_host_faults_among_the_errors_of_a_running_job(error, host):
    from aetui.worker.faults import host_fault

    assert (host_fault(error) is not None) == host, host_fault(error)


def test_a_read_only_file_system_behind_another_error_is_the_hosts():
    from aetui.worker.faults import host_fault

    try:
        try:
            raise OSError(30, "Read-only file system", "/mnt/runs/1/checkpoints/step_00000010.pt")
        except OSError as e:
            raise RuntimeError("cannot save the checkpoint") from e
    except RuntimeError as wrapped:
        assert host_fault(wrapped) == "the file system at /mnt/runs/1/checkpoints/step_00000010.pt is read-only on this host"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "read-only mount"])
def test_a_host_that_cannot_write_its_runs_root_leaves_the_jobs_queued(home, how, read_only_mount):
    first, second = submit(home, {"steps": 1}, {"steps": 1})
    blocked(how, home / "runs", read_only_mount)  # this host lost its runs root after the jobs were queued
    worker = run_worker(home)
    out = worker.stdout + worker.stderr
    assert worker.returncode == 69, out
    stops = [line for line in out.splitlines() if "stopping:" in line]
    assert len(stops) == 1 and f"this host cannot write the runs root {home / 'runs'}" in stops[0], out
    assert "jobs stay queued for other workers" in stops[0]
    one, two = detail(home, first), detail(home, second)
    assert one["status"] == two["status"] == "queued", out
    assert [a["outcome"] for a in one["attempts"]] == ["requeued"] and not two["attempts"], out
    assert "cannot write the runs root" in one["attempts"][0]["error"]

    # a healthy host (here: the same one, repaired) runs them
    if how == "file":
        (home / "runs").unlink()
    else:
        subprocess.run(["umount", "-l", str(home / "runs")], check=True)
    worker = run_worker(home)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    assert detail(home, first)["status"] == detail(home, second)["status"] == "done"


@pytest.mark.slow
def test_jobs_that_cannot_start_fail_and_the_next_job_runs(home):
    """A bad spec, a run folder with a file in its place, and a runs root no host has (as
    queued before the queue refused it): each fails with its reason, the worker goes on."""
    from aetui.home import Home
    from store.queue import enqueue_many

    db = Home.resolve(home).db
    (bad_spec,) = enqueue_many(db, [{"kind": "noop", "spec": {"steps": 0}}], run_root=str(home / "runs"))
    (in_the_way,) = submit(home, {"steps": 1})
    (home / "runs").mkdir(parents=True)
    (home / "runs" / str(in_the_way)).write_text("a file where the run folder goes\n")
    (poison,) = enqueue_many(db, [{"kind": "noop", "spec": {"steps": 1}}], run_root="/proc/nope")
    (good,) = submit(home, {"steps": 2})
    worker = run_worker(home)
    out = worker.stdout + worker.stderr
    assert worker.returncode == 0, out
    assert detail(home, good)["status"] == "done", out
    errors = {job: detail(home, job)["error"] for job in (bad_spec.id, in_the_way, poison.id)}
    assert all(detail(home, job)["status"] == "failed" for job in errors), (errors, out)
    assert "steps" in errors[bad_spec.id]
    assert errors[in_the_way] == (f"its run folder {home / 'runs' / str(in_the_way)} cannot be made: "
                                  "File exists"), errors
    assert errors[poison.id].startswith("its runs root /proc/nope cannot be written on this host: "), errors
    assert all("\n" not in e for e in errors.values())


# --- item 2 (issue: a hung job): stopped as stalled, requeued once, then failed ---------------

@pytest.mark.slow
def test_a_hung_job_is_stopped_as_stalled_requeued_once_then_failed(home):
    (job,) = submit(home, {"steps": 6, "sleep_s": 0.6, "hang_at": 4})
    worker = run_worker(home, "--stall-timeout", "4", "--grace", "1")
    out = worker.stdout + worker.stderr
    assert worker.returncode == 0, out
    d = detail(home, job)
    assert d["status"] == "failed", out
    assert d["error"] == f"stalled: no progress for 4 s after step {d['step']}", out
    assert 1 <= d["step"] <= 3
    assert [a["outcome"] for a in d["attempts"]] == ["requeued", "failed"], out
    assert all(a["error"].startswith("stalled: no progress for 4 s after step ") for a in d["attempts"])
    assert d["attempts"][1]["start_step"] >= 1  # the second attempt resumed where the first stalled
    assert out.count("stopping it") == 2 and "killing it" in out, out  # deaf to SIGTERM: SIGKILL after --grace
    from aetui.home import Home
    from store import outbox  # each stop is a `stalled` notice for notifications (docs/notifications.md)

    notices = outbox.since(Home.resolve(home).db, 0)
    assert [(n.job_id, n.event, n.status) for n in notices] == [(job, "stalled", "queued"), (job, "stalled", "failed")]


# --- item 3: a run folder deleted while its job runs; a dead worker's cancelled job ----------

@pytest.mark.slow
def test_a_run_folder_deleted_while_its_job_runs_fails_it_in_one_line(home, procs, tmp_path):
    from tests.test_resilience import wait_for

    (job,) = submit(home, {"steps": 40, "sleep_s": 0.2, "write_steps": True})
    run_dir = home / "runs" / str(job)
    log = tmp_path / "worker.log"
    worker = procs.start([sys.executable, "-m", "aetui", "worker", "--until-empty", "--poll", "0.2"], cwd=ROOT,
                         env=cli_env(home), stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    wait_for(lambda: (run_dir / "noop.step").exists(), what="the job writing into its run folder")
    shutil.rmtree(run_dir)
    assert worker.wait(timeout=120) == 0, log.read_text()
    d = detail(home, job)
    assert d["status"] == "failed", log.read_text()
    assert d["error"].startswith(f"its run folder {run_dir} was deleted while it ran (")
    assert "\n" not in d["error"] and "No such file or directory" in d["error"]
    assert not run_dir.exists(), "a deleted run folder is not made again"


def test_a_dead_workers_cancelled_job_is_logged_as_cancelled(home):
    """In this process: the worker also gives back the SIGTERM and SIGINT handlers it set."""
    from aetui.home import Home
    from aetui.worker.execute import host_name
    from aetui.worker.supervisor import Worker
    from store import queue

    h = Home.resolve(home)
    cancelled, requeued = submit(home, {"steps": 1}, {"steps": 1})
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid on this host that no longer runs: the dead worker's
    for job in (cancelled, requeued):
        assert queue.claim(h.db, worker=f"{host_name()}:{gone.pid}", host=host_name(), pid=gone.pid, device="cpu",
                           job_id=job) is not None
    queue.cancel(h.db, job_id=cancelled)
    aetui(home, "pause")  # the requeued job stays queued: only the log is under test
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    logs: list[str] = []
    assert Worker(h, ["cpu"], until_empty=True, poll_s=0.05, log=logs.append).run() == 0
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers
    assert f"job {cancelled}: its worker is gone; cancelled (as asked)" in logs, logs
    assert f"job {requeued}: its worker is gone; requeued" in logs, logs
    assert detail(home, cancelled)["status"] == "cancelled" and detail(home, requeued)["status"] == "queued"
