"""A job's number and files are its own for good (issue 12): ids never come back, a run
folder and its checkpoints belong to one job, and a copied home uses its own run folders."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from store import open_db, queries, queue
from tests.conftest import TINY, aetui, aetui_json, aetui_proc

STEPS = ["--steps", "10"]  # one checkpoint (TINY checkpoints every 10 steps), then final.pt


def run_worker(home: Path) -> None:
    aetui_proc(home, "worker", "--until-empty", "--devices", "cpu", "--poll", "0.2")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A home with job 1 trained to the end (runs/1/checkpoints/final.pt) and job 2 cancelled
    before it ran; each test copies it."""
    home = tmp_path_factory.mktemp("trained") / "home"
    aetui(home, "queue", *TINY, *STEPS)
    aetui(home, "queue", *TINY, *STEPS)
    aetui(home, "cancel", "2")
    run_worker(home)
    assert aetui_json(home, "show", "1")["status"] == "done"
    return home


def copy_of(trained: Path, target: Path) -> Path:
    shutil.copytree(trained, target)
    return target


def test_deleted_newest_job_id_is_never_given_again(home):
    assert aetui_json(home, "queue", *TINY)["id"] == 1
    assert aetui_json(home, "queue", *TINY)["id"] == 2
    aetui(home, "cancel", "2")
    aetui(home, "delete", "2", "--yes")
    assert aetui_json(home, "queue", *TINY)["id"] == 3


def test_ids_on_every_backend_never_come_back_and_skip_run_folders(backend_url):
    db = open_db(backend_url)
    rows = [{"kind": "train", "spec": {}, "label": "x"}]
    first, second = (queue.enqueue_many(db, rows, run_root="runs")[0] for _ in range(2))
    queue.cancel(db, job_id=second.id)
    queue.delete(db, job_id=second.id)
    (third,) = queue.enqueue_many(db, rows, run_root="runs")
    assert third.id > second.id
    (fourth,) = queue.enqueue_many(db, rows, run_root="runs", id_floor=third.id + 40)
    assert fourth.id == third.id + 41
    (fifth,) = queue.enqueue_many(db, rows, run_root="runs", id_floor=5)  # a lower floor changes nothing
    assert fifth.id == fourth.id + 1
    uids = {j.uid for j in (first, third, fourth, fifth)}
    assert len(uids) == 4 and all(len(u) == 32 for u in uids)


def test_new_store_numbers_jobs_above_the_run_folders_there_are(home):
    (home / "runs" / "9").mkdir(parents=True)
    (home / "runs" / "notes").mkdir()
    assert aetui_json(home, "queue", *TINY)["id"] == 10


@pytest.mark.slow  # the module's one training runs in a real worker
def test_lost_store_new_job_does_not_adopt_old_checkpoints(trained, tmp_path):
    """The store is lost (truncated: refused; then started afresh): the new job, of another
    architecture, gets a new number and trains from step 0; the old run stays untouched."""
    home = copy_of(trained, tmp_path / "home")
    final = home / "runs" / "1" / "checkpoints" / "final.pt"
    before = final.read_bytes()
    subprocess.run(["truncate", "-s", "0", str(home / "aetui.db")], check=True)
    refused = aetui(home, "runs", check=False)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    (home / "aetui.db").unlink()
    job = aetui_json(home, "queue", "unet", "--res", "32", "--base-width", "8", "--depth", "2",
                     "--data", "builtin:64", "--batch-size", "8", *STEPS)
    assert job["id"] == 2  # above runs/1 (the cancelled job 2 never made a folder)
    run_worker(home)
    d = aetui_json(home, "show", str(job["id"]))
    assert d["status"] == "done", d["error"]
    assert [a["start_step"] for a in d["attempts"]] == [0]
    assert final.read_bytes() == before


@pytest.mark.slow  # the module's one training runs in a real worker
def test_job_never_writes_into_another_jobs_run_folder(trained, tmp_path):
    """A folder that carries another job's uid (two homes sharing a runs root, a store
    restored from an old backup) is refused: the job fails with one line, the folder is left
    as it was, and the worker goes on."""
    home = tmp_path / "home"
    job = aetui_json(home, "queue", *TINY, *STEPS)
    other = aetui_json(home, "queue", *TINY, *STEPS)
    folder = home / "runs" / str(job["id"])
    shutil.copytree(trained / "runs" / "1", folder)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    run_worker(home)
    d = aetui_json(home, "show", str(job["id"]))
    assert d["status"] == "failed"
    assert "belongs to another job" in d["error"] and "\n" not in d["error"]
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert aetui_json(home, "show", str(other["id"]))["status"] == "done"


@pytest.mark.slow  # the module's one training runs in a real worker
def test_run_folder_and_checkpoints_carry_the_job_uid(trained):
    import torch

    from aetui.run_owner import NotOurs, check_checkpoint, claim_run_dir, owner_of

    db = open_db(trained / "aetui.db")
    uid = queries.get_job(db, 1).uid
    folder = trained / "runs" / "1"
    assert owner_of(folder) == uid
    state = torch.load(folder / "checkpoints" / "final.pt", weights_only=True)
    assert state["job_uid"] == uid
    check_checkpoint(state, folder, uid, 1)
    with pytest.raises(NotOurs, match="belongs to another job"):
        check_checkpoint(state, folder, "0" * 32, 7)
    with pytest.raises(NotOurs, match="belongs to another job"):
        claim_run_dir(folder, "0" * 32, 7)
    assert owner_of(folder) == uid


def test_unmarked_folder_of_an_older_aetui_is_taken(tmp_path):
    from aetui.run_owner import MARKER, claim_run_dir

    folder = tmp_path / "runs" / "3"
    folder.mkdir(parents=True)
    (folder / "stdout.log").write_text("old\n")
    claim_run_dir(folder, "a" * 32, 3)
    assert (folder / MARKER).read_text().strip() == "a" * 32


@pytest.mark.slow  # the module's one training runs in a real worker
def test_copied_home_reads_and_writes_its_own_run_folders(trained, tmp_path):
    """A copied home whose original is gone: `show`, the dashboard's readers and a retry
    all use the copy's runs/."""
    from aetui.tui.data.curves import read_scalars
    from aetui.tui.data.results import checkpoints, load_results

    original = copy_of(trained, tmp_path / "original")
    copy = copy_of(original, tmp_path / "copy")
    shutil.rmtree(original)
    d = aetui_json(copy, "show", "1")
    run_dir = Path(d["run_dir"])
    assert run_dir == copy / "runs" / "1" and run_dir.is_dir()
    assert read_scalars(run_dir) and checkpoints(run_dir)
    assert load_results(d["kind"], d["run_dir"], d["artifacts"], d["results"]).albums
    aetui(copy, "retry", "2")
    run_worker(copy)
    assert aetui_json(copy, "show", "2")["status"] == "done"
    assert (copy / "runs" / "2" / "checkpoints" / "final.pt").is_file()
    assert not original.exists()
    con = sqlite3.connect(copy / "aetui.db")
    stored = [r[0] for r in con.execute("SELECT run_dir FROM run ORDER BY id")]
    con.close()
    assert stored == ["runs/1", "runs/2"]


def test_runs_root_outside_the_home_is_stored_absolute(home, tmp_path):
    shared = tmp_path / "shared-runs"
    job = aetui_json(home, "queue", *TINY, "--runs-root", str(shared))
    assert aetui_json(home, "show", str(job["id"]))["run_dir"] == str(shared / str(job["id"]))
    assert queries.get_run(open_db(home / "aetui.db"), job["id"]).run_dir == str(shared / str(job["id"]))
