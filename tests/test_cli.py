"""The CLI as a user drives it: every verb, bad input, JSON output, start-up cost."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT, TINY, aetui, aetui_json, aetui_proc, cli_env

VERBS = ["queue", "runs", "show", "cancel", "retry", "priority", "delete", "pause", "resume", "worker", "demo", "tb", "tag", "note"]


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_with_an_example(home, verb):
    out = aetui(home, verb, "--help").stdout
    assert "Example" in out and "--home" in out


HELP_DEFAULTS = {  # verb -> (spec kind, spec fields whose defaults its help states)
    "queue": ("train", ["steps", "batch_size", "lr", "seed", "checkpoint_every", "checkpoint_minutes",
                        "heldout_fraction", "log_every", "image_every", "eval_every"]),
    "sweep": ("sweep", ["images", "batch_size", "bn", "control", "samples", "seed"]),
    "walk": ("walk", ["steps", "chains", "start", "mu", "sigma", "bn"]),
    "probe": ("probe", ["iters", "lr", "images", "bn"]),
}


@pytest.mark.parametrize("verb", HELP_DEFAULTS)
def test_help_states_the_specs_own_defaults(home, verb):
    """Help text and spec read one table of defaults; a default changed in one place shows
    in both (each flag's help names the default its spec field has)."""
    from aetui.defaults import shown
    from aetui.specs import SPEC_TYPES

    kind, fields = HELP_DEFAULTS[verb]
    help_text = aetui(home, verb, "--help").stdout
    # each option's entry: from its line's flag up to the next line that starts a flag
    entries = {m.group(1): " ".join(m.group(0).split())
               for m in re.finditer(r"^ +(--[a-z-]+)[^\n]*(?:\n(?! +-)[^\n]*)*", help_text, re.M)}
    for field in fields:
        default = SPEC_TYPES[kind].model_fields[field].default
        flag = "--" + field.replace("_", "-")
        assert shown(default) in entries[flag], (flag, shown(default), entries[flag])


def test_help_and_cli_import_do_not_import_torch(home):
    code = "import sys, aetui.cli; bad = [m for m in ('torch', 'sqlmodel', 'textual', 'numpy', 'matplotlib') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"
    imports = subprocess.run([sys.executable, "-X", "importtime", "-c", "import aetui.cli"],
                             capture_output=True, text=True, cwd=ROOT, check=True).stderr
    assert not any(line.rstrip().endswith("| torch") for line in imports.splitlines())


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_queue_and_runs_do_not_import_torch(home):
    code = ("import sys; from aetui.cli import app; sys.argv=['aetui', *sys.argv[1:]]\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)")
    for args in (["queue", "unet", "--res", "64"], ["runs"]):
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                             env=cli_env(home))
        assert "NOTORCH" in out.stderr, out.stderr


def test_queue_prints_id_and_json(home):
    first = aetui(home, "queue", "unet", "--res", "64")
    assert first.stdout.strip() == "1"
    assert "no worker is running" in first.stderr
    job = aetui_json(home, "queue", "mlp", "--res", "32", "--steps", "2000", "--batch-size", "512", "--width", "64")
    assert job["id"] == 2 and job["status"] == "queued" and job["model"] == "mlp"
    rows = aetui_json(home, "runs")
    assert [r["id"] for r in rows] == [2, 1]


def test_grid_queues_every_combination_as_one_group(home):
    jobs = aetui_json(home, "queue", "unet", "--res", "64", "--lr", "1e-4,3e-4", "--batch-size", "16,32")
    assert len(jobs) == 4
    assert {(j["id"], j["group_id"]) for j in jobs} == {(1, 1), (2, 1), (3, 1), (4, 1)}
    specs = [aetui_json(home, "show", str(j["id"]))["spec"] for j in jobs]
    assert sorted((s["lr"], s["batch_size"]) for s in specs) == [(1e-4, 16), (1e-4, 32), (3e-4, 16), (3e-4, 32)]


def test_grid_over_a_model_option_and_a_spec_field(home):
    """A model option's axis lands in the spec's options, a spec field's in the spec."""
    jobs = aetui_json(home, "queue", "unet", "--res", "64", "--depth", "2,3", "--seed", "0,1", "--skips")
    specs = [aetui_json(home, "show", str(j["id"]))["spec"] for j in jobs]
    assert sorted((s["options"]["depth"], s["seed"]) for s in specs) == [(2, 0), (2, 1), (3, 0), (3, 1)]
    assert all(s["options"]["skips"] is True and "depth" not in s and "skips" not in s for s in specs)


BAD_INPUT = [
    (["queue", "transformer", "--res", "64"], "unknown model 'transformer'"),
    (["queue", "unet", "--res", "48"], "power of two"),
    (["queue", "unet", "--res", "1024"], "res"),
    (["queue", "unet", "--res", "16"], "res"),
    (["queue", "unet", "--res", "64", "--steps", "0"], "--steps"),
    (["queue", "unet", "--res", "64", "--data", "folder:/does/not/exist"], "does not exist"),
    (["queue", "unet", "--res", "64", "--data", "cifar10"], "--download"),
    (["queue", "unet", "--res", "64", "--device", "cuda:7"], "unknown device 'cuda:7'"),
    (["queue", "unet", "--res", "64", "--device", "tpu"], "unknown device"),
    (["queue", "unet", "--res", "64", "--width", "10"], "width"),
    (["queue", "unet", "--res", "64", "--lr", "fast"], "--lr"),
    (["queue", "unet", "--res", "64", "--after", "42"], "job 42 does not exist"),
    (["show", "7"], "no job 7"),
    (["cancel", "7"], "no job 7"),
    (["retry", "7"], "no job 7"),
]


@pytest.mark.parametrize("args, message", BAD_INPUT)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(home, args, message):
    """In this process (Typer's runner): the verbs' error handling is inside the app, so the
    exit code and stderr are the real command's; the real process is checked below, in
    `test_a_users_error_is_one_line_exit_2_and_no_log`."""
    proc = aetui(home, *args, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert aetui_json(home, "runs") == []
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_empty_folder_is_refused(home, tmp_path):
    empty = tmp_path / "imgs"
    empty.mkdir()
    proc = aetui(home, "queue", "unet", "--res", "64", "--data", f"folder:{empty}", check=False)
    assert proc.returncode == 2 and "no image" in proc.stderr


def test_cancel_retry_priority_delete_and_show(home):
    aetui(home, "queue", *TINY)
    assert aetui_json(home, "cancel", "1")["status"] == "cancelled"
    assert aetui(home, "cancel", "1", check=False).returncode == 2
    assert aetui_json(home, "retry", "1")["status"] == "queued"
    assert aetui_json(home, "priority", "1", "5")["priority"] == 5
    detail = aetui_json(home, "show", "1")
    for key in ("id", "kind", "status", "spec", "steps_done", "metrics", "run_dir", "device", "created_at",
                "started_at", "ended_at", "error", "attempts", "requeue_command"):
        assert key in detail
    assert detail["requeue_command"].startswith("aetui queue unet --res 32 --base-width 4")
    assert aetui(home, "delete", "1", "--yes", check=False).returncode == 2  # queued: cancel first
    aetui(home, "cancel", "1")
    aetui(home, "delete", "1", "--yes")
    assert aetui_json(home, "runs") == []


def test_pause_and_resume(home):
    assert aetui_json(home, "pause") == {"paused": True}
    assert aetui_json(home, "resume") == {"paused": False}


def test_home_flag_beats_environment(home, tmp_path):
    other = tmp_path / "other"
    aetui(home, "queue", "unet", "--res", "64", "--home", str(other))
    assert (other / "aetui.db").is_file()
    assert aetui_json(home, "runs") == []
    assert len(json.loads(aetui(home, "runs", "--json", "--home", str(other)).stdout)) == 1


def test_second_detached_worker_is_refused(home):
    aetui(home, "pause")  # the background worker must not run anything here
    first = json.loads(aetui_proc(home, "worker", "--detach", "--json").stdout)
    try:
        proc = aetui_proc(home, "worker", "--detach", check=False)
        assert proc.returncode == 2 and "already runs" in proc.stderr
        queued = aetui(home, "queue", "unet", "--res", "64")
        assert "no worker is running" not in queued.stderr
    finally:
        import os
        import signal

        os.kill(first["pid"], signal.SIGTERM)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_worker_stop_ends_the_background_worker(home):
    import time

    from aetui.home import Home
    from aetui.worker.registry import pid_alive, running_workers

    assert "no background worker runs" in aetui(home, "worker", "--stop").stdout  # nothing to stop: fine
    aetui(home, "pause")  # the background worker must not run anything here
    first = json.loads(aetui_proc(home, "worker", "--detach", "--json").stdout)
    try:
        assert aetui_json(home, "worker", "--stop") == {"stopped": [first["pid"]]}
        deadline = time.monotonic() + 60
        while pid_alive(first["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not pid_alive(first["pid"])
        assert running_workers(Home(home)) == []
        assert aetui_json(home, "worker", "--stop") == {"stopped": []}
    finally:
        import os
        import signal

        if pid_alive(first["pid"]):
            os.kill(first["pid"], signal.SIGKILL)


def test_a_users_error_is_one_line_exit_2_and_no_log(home):
    proc = aetui_proc(home, "queue", "unet", "--res", "48", check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == "aetui: error: res must be a power of two, got 48"
    assert not (home / "logs").exists()


def break_schema(home) -> None:
    """A store edited by hand: valid SQLite (not damaged: that is the user's to repair, exit
    2), at the newest schema version, but a column the code reads is gone. No code path
    expects that, so every read fails unexpectedly."""
    import sqlite3

    con = sqlite3.connect(home / "aetui.db")
    with con:
        con.execute("ALTER TABLE job RENAME COLUMN label TO label_renamed_by_hand")
    con.close()


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_an_unexpected_error_is_one_line_exit_70_and_a_log(home):
    """A bug is not the user's error: here a store whose schema was edited by hand (no code
    path expects it) gives exit 70 and one line naming the log that holds the traceback."""
    aetui(home, "queue", *TINY)
    break_schema(home)
    proc = aetui_proc(home, "show", "1", check=False)
    assert proc.returncode == 70, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aetui: internal error (OperationalError"), proc.stderr
    (log,) = (home / "logs").iterdir()
    assert log.name.endswith("-show.log") and lines[0].endswith(f"the traceback is in {log}")
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "no such column" in text
    debug = subprocess.run([sys.executable, "-m", "aetui", "show", "1"], capture_output=True, text=True,
                           cwd=ROOT, env={**cli_env(home), "AETUI_DEBUG": "1"}, timeout=300)
    assert debug.returncode == 1 and "Traceback (most recent call last)" in debug.stderr
    assert "sqlalchemy.exc.OperationalError" in debug.stderr and "internal error" not in debug.stderr


def test_the_log_goes_to_the_temp_folder_when_the_home_is_unusable(home, tmp_path):
    """A home whose logs folder cannot be made (a file is in the way) and whose store was
    edited by hand: the command fails unexpectedly, its log cannot go there. (A home that is
    a file is the user's error now, exit 2: tests/test_bad_input.py.)"""
    bad_home = tmp_path / "home"
    aetui(bad_home, "queue", *TINY)
    break_schema(bad_home)
    (bad_home / "logs").write_text("not a folder\n")
    env = {**cli_env(bad_home), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run([sys.executable, "-m", "aetui", "queue", "unet", "--res", "32"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 70, proc.stderr
    (log,) = (tmp_path / "tmp" / "aetui-logs").iterdir()
    assert log.name.endswith("-queue.log") and proc.stderr.strip().endswith(str(log))
    assert "Traceback (most recent call last)" in log.read_text() and "no column named label" in log.read_text()
