"""Several machines, one PostgreSQL store: every CLI verb, the dashboard, and two workers
(each with its own home, as on two machines) draining one queue into a shared runs root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TINY


@pytest.fixture
def machines(pg_url, tmp_path):
    """Two machines' environments: own home folders, one database, one runs root."""
    shared = tmp_path / "shared-runs"
    envs = []
    for name in ("gpu-a", "gpu-b"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AETUI_")}
        env.update(AETUI_HOME=str(tmp_path / name), AETUI_DB=pg_url, PYTHONUNBUFFERED="1")
        envs.append(env)
    return envs, shared


def cli(env: dict, *args: str, code: int = 0):
    """The real `aetui` in this process (Typer's runner) with this machine's environment."""
    from typer.testing import CliRunner

    from aetui.cli import app

    patch = {k: None for k in os.environ if k.startswith("AETUI_")}
    patch.update({k: v for k, v in env.items() if k.startswith("AETUI_")})
    result = CliRunner().invoke(app, list(args), env=patch, catch_exceptions=False)
    assert result.exit_code == code, f"aetui {' '.join(args)}: {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout) if "--json" in args else result


def test_every_verb_on_postgresql(machines):
    (a, b), shared = machines
    jobs = cli(a, "queue", *TINY, "--steps", "10,20", "--runs-root", str(shared), "--json")
    ids = [j["id"] for j in jobs]
    assert len(ids) == 2
    assert {j["id"] for j in cli(b, "runs", "--json")} == set(ids)  # the other machine sees them
    assert cli(b, "show", str(ids[0]), "--json")["run_dir"] == f"{shared.resolve()}/{ids[0]}"
    cli(b, "priority", str(ids[1]), "5")
    assert cli(a, "show", str(ids[1]), "--json")["priority"] == 5
    assert cli(b, "pause", "--json") == {"paused": True}
    cli(a, "resume")
    assert cli(b, "cancel", str(ids[0]), "--json")["status"] == "cancelled"
    assert cli(a, "retry", str(ids[0]), "--json")["status"] == "queued"
    cli(a, "cancel", str(ids[0]))
    cli(b, "delete", str(ids[0]), "--yes")
    assert [j["id"] for j in cli(a, "runs", "--json")] == [ids[1]]
    (queued,) = cli(a, "runs", "--status", "queued", "--json")
    assert queued["label"] == jobs[1]["label"] and queued["label"].split()[:2] == ["unet", "res32"]
    assert cli(b, "db", "status", "--json")["up_to_date"]
    assert "no job 999" in cli(a, "show", "999", code=2).stderr


def test_two_workers_drain_one_queue(machines, procs):
    (a, b), shared = machines
    ids = [j["id"] for j in cli(a, "queue", *TINY, "--steps", "5", "--seed", "1,2",
                                 "--runs-root", str(shared), "--json")]
    workers = [procs.start([sys.executable, "-m", "aetui", "worker", "--until-empty", "--poll", "0.3",
                            "--devices", "cpu"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True) for env in (a, b)]
    logs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], logs
    owners = set()
    for job_id in ids:
        d = cli(b, "show", str(job_id), "--json")
        assert d["status"] == "done", (d["error"], logs)
        (attempt,) = d["attempts"]  # claimed once
        owners.add(attempt["worker"])
        assert d["host"] == attempt["host"] and Path(d["run_dir"]).parent == shared.resolve()
        assert (Path(d["run_dir"]) / "tb").is_dir()
    started = [sum(f"job {i}: started" in log for i in ids) for log in logs]
    assert sum(started) == len(ids) and len(owners) == sum(1 for n in started if n)


def test_dashboard_on_postgresql(machines):
    from aetui.home import Home
    from tests.tui.helpers import drive, make_app, table_ids

    (a, _), shared = machines
    ids = [j["id"] for j in cli(a, "queue", *TINY, "--steps", "10,20", "--runs-root", str(shared), "--json")]
    os.environ["AETUI_DB"] = a["AETUI_DB"]
    try:
        home = Home.resolve(a["AETUI_HOME"])
        seen = {}

        async def scenario(pilot):
            seen["ids"] = table_ids(pilot)

        drive(make_app(home), scenario)
    finally:
        del os.environ["AETUI_DB"]
    assert seen["ids"] == sorted(ids, reverse=True)
