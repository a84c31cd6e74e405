"""Bad input to every verb: exit 2, one line, nothing written (issue 12).

`refused` runs the real CLI in this process and checks all three: the exit code, a single
line on stderr without a traceback, and every file of the home byte-identical afterwards.
"""

from __future__ import annotations

import gc
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT, aetui, aetui_json

HUGE = "9" * 25
README = ROOT / "README.md"


def settle() -> None:
    """Collect the engines that commands left open, so their SQLite journals come and go
    now, not in the middle of a comparison. What survives is frozen (`gc.freeze`): the next
    collection looks at new objects only, a hundredth of the time."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True, scope="module")
def _unfreeze():
    yield
    gc.unfreeze()


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` and its bytes (no folder: empty)."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(home: Path, *args: str, message: str = "", watch: Path | None = None) -> str:
    """Run `aetui ARGS`: exit 2, one line naming `message`, and nothing written under the
    home (and `watch`); the line."""
    folders = [home] + ([watch] if watch is not None else [])
    settle()
    before = [snapshot(f) for f in folders]
    existed = [f.exists() for f in folders]
    proc = aetui(home, *args, check=False)
    assert proc.returncode == 2, (args, proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    if lines and lines[0].startswith("Usage: "):  # a usage error: click's block, the convention kept
        lines = lines[-1:]
        assert lines[0].startswith("Error: "), (args, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith(("aetui: error: ", "Error: ")), (args, proc.stderr)
    assert "Traceback" not in proc.stderr and message in lines[0], (args, message, lines[0])
    settle()
    assert [f.exists() for f in folders] == existed, args
    assert [snapshot(f) for f in folders] == before, args
    return lines[0]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    h = tmp_path_factory.mktemp("template") / "home"
    aetui(h, "queue", "unet", "--res", "64")
    gc.collect()  # its engine's connections closed: no journal files left to copy
    return h


@pytest.fixture
def queued(home: Path, template: Path) -> Path:
    """A home with one queued training job (a copy: queueing costs a store's migrations)."""
    shutil.copytree(template, home)
    return home


# --------------------------------------------------------------------- `aetui --home H verb`

def test_home_before_the_verb_is_the_verbs_home(home, tmp_path):
    other, third = tmp_path / "other", tmp_path / "third"
    aetui(home, "--home", str(other), "queue", "unet", "--res", "64")
    assert (other / "aetui.db").is_file() and not home.exists()
    assert [j["id"] for j in json.loads(aetui(home, "--home", str(other), "runs", "--json").stdout)] == [1]
    assert aetui_json(home, "--home", str(other), "show", "1")["status"] == "queued"
    assert aetui(home, "--home", str(other), "cancel", "1").returncode == 0
    # both given: the verb's own wins
    aetui(home, "--home", str(other), "queue", "unet", "--res", "64", "--home", str(third))
    assert [j["id"] for j in aetui_json(home, "runs", "--home", str(third))] == [1]
    assert len(aetui_json(home, "runs", "--home", str(other))) == 1
    assert not home.exists()


def test_a_bad_home_before_the_verb_is_refused(home, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused(home, "--home", str(afile), "queue", "unet", "--res", "64", message="not a folder")


# --------------------------------------------------------------------- bounds of every number

@pytest.mark.parametrize("args, message", [
    (["queue", "unet", "--res", "64", "--steps", HUGE], "--steps"),
    (["queue", "unet", "--res", "64", "--priority", HUGE], "--priority"),
    (["queue", "unet", "--res", "64", "--after", HUGE], HUGE),
    (["queue", "unet", "--res", "64", "--batch-size", "99999999999"], "--batch-size"),
    (["queue", "unet", "--res", "64", "--data", "builtin:99999999999999"], "builtin:N"),
    (["queue", "unet", "--res", "64", "--lr", "inf"], "--lr"),
    (["queue", "unet", "--res", "64", "--lr", "nan"], "--lr"),
    (["queue", "unet", "--res", "64", "--seed", HUGE], "--seed"),
    (["queue", "unet", "--res", "64", "--checkpoint-every", HUGE], "--checkpoint-every"),
    (["queue", "unet", "--res", "64", "--checkpoint-minutes", "inf"], "--checkpoint-minutes"),
    (["queue", "unet", "--res", "64", "--heldout-fraction", "nan"], "--heldout-fraction"),
    (["queue", "unet", "--res", "64", "--base-width", "99999999999"], "--base-width"),
    (["queue", "unet", "--res", "64", "--bottleneck", "linear:99999999999"], "--bottleneck"),
    (["queue", "mlp", "--res", "32", "--width", "99999999999"], "--width"),
    (["queue", "mlp", "--res", "32", "--hidden-layers", HUGE], "--hidden-layers"),
    (["queue", "unet", "--res", "64", "--gpus", HUGE], "--gpus"),
    (["queue", "unet", "--res", "64", "--lr", ",".join(["1e-4"] * 40), "--seed", ",".join(map(str, range(40)))],
     "at most 1000"),
    (["show", HUGE], f"no job {HUGE}"),
    (["cancel", HUGE], f"no job {HUGE}"),
    (["retry", HUGE], f"no job {HUGE}"),
    (["delete", HUGE, "--yes"], f"no job {HUGE}"),
    (["priority", HUGE, "1"], f"no job {HUGE}"),
    (["priority", "1", HUGE], "--priority"),
    (["sweep", HUGE], f"no job {HUGE}"),
    (["runs", "--limit", HUGE], "--limit"),
])
def test_huge_and_non_finite_numbers_are_refused(queued, args, message):
    refused(queued, *args, message=message)


def test_a_huge_sweep_grid_is_refused_before_it_is_built(queued):
    """0:1:100000000 once took 8.4 GB and kept running."""
    from aetui.specs import parse_spec
    from aetui.errors import UserError

    with pytest.raises(UserError, match="at most 1000 levels"):
        parse_spec("sweep", {"noise": "mix", "levels": "0:1:100000000"})
    with pytest.raises(UserError, match="at most 1000 levels"):
        parse_spec("sweep", {"noise": "gauss", "levels": ",".join(["0.1"] * 1001)})
    refused(queued, "sweep", "1", "--levels", "0:1:100000000", message="")  # job 1 is not done: any refusal


def test_limits_come_from_one_table():
    from aetui.defaults import LIMITS
    from aetui.specs import SweepSpec, TrainSpec, WalkSpec

    def le(model, field):
        return next(m.le for m in model.model_fields[field].metadata if getattr(m, "le", None) is not None)

    assert le(TrainSpec, "steps") == LIMITS["steps"] and le(TrainSpec, "batch_size") == LIMITS["batch_size"]
    assert le(SweepSpec, "images") == LIMITS["sweep_images"] and le(WalkSpec, "chains") == LIMITS["walk_chains"]


# --------------------------------------------------------------------- homes, runs roots, ports, paths

def _read_only_mount(folder: Path):
    folder.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro", "tmpfs", str(folder)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.strip()}")
    return folder


@pytest.fixture
def read_only(tmp_path: Path):
    folder = _read_only_mount(tmp_path / "ro")
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_homes_that_cannot_be_used_are_refused(queued, tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("x")
    monkeypatch.chdir(tmp_path)
    for home_arg, message in ((str(afile), "not a folder"), ("", "--home is empty"), ("/proc/self", "cannot be written"),
                              (str(afile / "sub"), "is not a folder"), ("x" * 5000, "too long"),
                              ("/tmp/" + "y" * 300, "too long")):
        refused(queued, "queue", "unet", "--res", "64", "--home", home_arg, message=message, watch=tmp_path)
        refused(queued, "worker", "--until-empty", "--home", home_arg, message=message, watch=tmp_path)
    assert not (tmp_path / "aetui.db").exists()


def test_a_read_only_home_and_runs_root_are_refused(queued, read_only):
    refused(queued, "queue", "unet", "--res", "64", "--home", str(read_only), message="cannot be written")
    refused(queued, "queue", "unet", "--res", "64", "--home", str(read_only / "new"), message="cannot be written")
    refused(queued, "queue", "unet", "--res", "64", "--runs-root", str(read_only), message="cannot be written")
    refused(queued, "worker", "--runs-root", str(read_only / "runs"), message="cannot be written")


def test_a_runs_root_that_is_a_file_is_refused(queued, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    refused(queued, "queue", "unet", "--res", "64", "--runs-root", str(afile), message="--runs-root")
    refused(queued, "worker", "--runs-root", str(afile), message="--runs-root")


@pytest.mark.parametrize("args, message", [
    (["tb", "--port", "-1"], "--port"),
    (["tb", "--port", "99999"], "--port"),
    (["tb", "--port", "0"], "--port"),
    (["tb", "--host", "999.999.999.999"], "--host"),
    (["tb", "--host", "bad host!"], "--host"),
    (["queue", "unet", "--res", "64", "--data", "folder:" + "/a" * 2500], "too long"),
    (["queue", "unet", "--res", "64", "--data", "npy:/tmp/" + "n" * 300 + ".npy"], "too long"),
    (["queue", "unet", "--res", "64", "--data", "folder:/tmp/a\0b"], "NUL"),
    (["sweep", "/tmp/" + "c" * 300 + ".pt"], "too long"),
    (["worker", "--poll", "-1"], "--poll"),
    (["worker", "--poll", "nan"], "--poll"),
    (["worker", "--poll", "0"], "--poll"),
    (["worker", "--grace", "nan"], "--grace"),
    (["worker", "--reserve-after", "inf"], "--reserve-after"),
    (["worker", "--per-device", HUGE], "--per-device"),
])
def test_ports_hosts_paths_and_worker_timings_are_refused(queued, args, message):
    refused(queued, *args, message=message)
    assert [j["status"] for j in aetui_json(queued, "runs")] == ["queued"]  # no worker claimed it


# --------------------------------------------------------------------- npy files, from their header

def _npy(folder: Path, name: str, array=None, raw: bytes | None = None) -> Path:
    path = folder / f"{name}.npy"
    if raw is not None:
        path.write_bytes(raw)
    else:
        np.save(path, array, allow_pickle=True)
    return path


def _header_only(folder: Path, name: str, shape: tuple[int, ...]) -> Path:
    """A .npy whose header promises an array that is not there."""
    from numpy.lib import format as npy_format

    path = folder / f"{name}.npy"
    with path.open("wb") as fh:
        npy_format.write_array_header_1_0(fh, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return path


def test_bad_npy_files_are_refused_at_queue_time(queued, tmp_path):
    objects = np.empty((2,), dtype=object)
    objects[:] = [{"a": 1}, [2]]
    cases = [
        (_npy(tmp_path, "float", np.zeros((2, 8, 8, 3), np.float32)), "expected uint8"),
        (_npy(tmp_path, "shape", np.zeros((2, 8, 8), np.uint8)), "expected uint8 N x H x W x C"),
        (_npy(tmp_path, "channels", np.zeros((2, 8, 8, 4), np.uint8)), "C = 3 or 1"),
        (_npy(tmp_path, "empty", np.zeros((0, 8, 8, 3), np.uint8)), "no images"),
        (_npy(tmp_path, "zero_side", np.zeros((2, 0, 8, 3), np.uint8)), "no images"),
        (_header_only(tmp_path, "huge_side", (1, 100_000, 100_000, 3)), "pixels a side"),
        (_header_only(tmp_path, "truncated", (10, 64, 64, 3)), "truncated"),
        (_npy(tmp_path, "garbage", raw=b"\x93NUMPY\x01\x00\xff\xffgarbage"), "not a readable .npy"),
        (_npy(tmp_path, "dict_header", raw=b"\x93NUMPY\x01\x00\x10\x00{'a': 1}       \n"), "not a readable .npy"),
        (_npy(tmp_path, "pickle", objects), "pickle"),
    ]
    for path, message in cases:
        refused(queued, "queue", "unet", "--res", "64", "--data", f"npy:{path}", message=message)
    np.save(tmp_path / "good.npy", np.zeros((2, 40, 24, 1), np.uint8))  # grey, not square: cropped at load
    aetui(queued, "queue", "unet", "--res", "64", "--data", f"npy:{tmp_path / 'good.npy'}")


def test_a_data_source_at_a_resolution_it_cannot_make_is_refused_at_queue_time(queued, tmp_path):
    """`builtin` paints at 32..512 only (every other source is resized to any --res): a
    training job or an experiment asking it for other images is refused when queued, not
    failed when its worker first asks for them."""
    from aetui.home import Home
    from store import queue
    from store.states import JobStatus

    sizes = "makes images at res 32, 64, 128, 256 or 512, not"
    refused(queued, "queue", "mlp", "--res", "16", message=f"--data builtin {sizes} 16")
    refused(queued, "queue", "mlp", "--res", "16", "--data", "builtin:64", message=f"--data builtin:64 {sizes} 16")
    refused(queued, "queue", f"{ROOT}/examples/my_ae.py:ConvAE", "--res", "48", message=f"--data builtin {sizes} 48")
    # the same model and size on images that are resized: queued, and trained at res 16
    np.save(tmp_path / "few.npy", np.zeros((4, 20, 20, 3), np.uint8))
    data = f"npy:{tmp_path / 'few.npy'}"
    job = aetui_json(queued, "queue", "mlp", "--res", "16", "--width", "8", "--data", data)["id"]
    db = Home.resolve(queued).db
    while queue.claim(db, worker="w", host="h", pid=1, device="cpu").id != job:
        pass  # the template's job first
    queue.finish(db, job_id=job, worker="w", status=JobStatus.DONE)
    db.dispose()  # its WAL folded into the file now, not during the comparison below
    # an experiment makes its images at its model's resolution
    refused(queued, "sweep", str(job), "--data", "builtin:64", message=f"--data builtin:64 {sizes} 16")
    aetui(queued, "sweep", str(job), "--data", data)
    # a job queued before the rule (its spec breaks it) is still shown, without a command to queue it again
    db = Home.resolve(queued).db
    (old,) = queue.enqueue_many(db, [{"kind": "train", "spec": {"model": "mlp", "res": 16}, "label": "old"}],
                                run_root=str(Home.resolve(queued).runs))
    db.dispose()
    shown = aetui_json(queued, "show", str(old.id))
    assert shown["spec"]["res"] == 16 and shown["requeue_command"] == ""


# --------------------------------------------------------------------- read verbs on no home

@pytest.mark.parametrize("args", [
    ["show", "1"], ["cancel", "1"], ["retry", "1"], ["delete", "1", "--yes"], ["priority", "1", "3"],
    ["sweep", "1"], ["walk", "1"], ["probe", "1"], ["queue", "unet", "--res", "64", "--after", "999"],
])
def test_read_verbs_on_a_home_that_does_not_exist_write_nothing(home, args):
    refused(home, *args, message=f"no aetui home at {home}")
    assert not home.exists()


def test_runs_refuses_a_bad_kind_and_limit(queued):
    refused(queued, "runs", "--kind", "bogus", message="unknown kind 'bogus'")
    refused(queued, "runs", "--limit", "-1", message="--limit")
    assert [j["kind"] for j in aetui_json(queued, "runs", "--kind", "train")] == ["train"]


def test_runs_kinds_are_the_specs_kinds():
    from aetui.cli.jobs_cmds import JOB_KINDS
    from aetui.specs import SPEC_TYPES

    assert set(JOB_KINDS) == set(SPEC_TYPES)


# --------------------------------------------------------------------- usage errors

def test_usage_errors_are_typers_block_exit_2_as_the_readme_says(home):
    """The convention kept: click's usage block (usage line, hint, error) and exit 2."""
    proc = aetui(home, "queue", "unet", check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("Usage: ") and lines[-1].startswith("Error: Missing option '--res'"), proc.stderr
    assert not home.exists()
    text = " ".join(README.read_text().split())
    assert "A usage error (an unknown flag, a missing argument, a value of the wrong type) gets click's" in text
