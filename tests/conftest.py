"""Shared fixtures: a fresh home folder per test and a way to run the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# fixtures for every store backend (SQLite; PostgreSQL and Slurm when present): tests/backends.py
pytest_plugins = ["tests.backends"]

# A tiny training spec: seconds on 2 CPU cores.
TINY = ["unet", "--res", "32", "--base-width", "4", "--depth", "2", "--data", "builtin:64",
        "--batch-size", "8", "--log-every", "5", "--image-every", "10", "--checkpoint-every", "10"]


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a test module's in-process runs: these models are tiny, and on a
    busy machine a second OpenMP thread that cannot get a core makes every op wait for it."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("AETUI_HOME", str(h))
    monkeypatch.delenv("AETUI_DB", raising=False)
    monkeypatch.delenv("AETUI_RUNS_ROOT", raising=False)
    return h


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AETUI_")}
    env["AETUI_HOME"] = str(home)
    env["PYTHONUNBUFFERED"] = "1"
    # one torch thread per process: on 2 shared cores more threads only fight (a tiny
    # U-Net step took 5x longer with 2 threads while other tests ran)
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def aetui(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the real `aetui` command in this process (Typer's runner): fast, same code path."""
    from typer.testing import CliRunner

    from aetui.cli import app

    env = {k: None for k in os.environ if k.startswith("AETUI_")}
    env["AETUI_HOME"] = str(home)
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    proc = subprocess.CompletedProcess(["aetui", *args], result.exit_code, result.stdout, result.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"aetui {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def aetui_proc(home: Path, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real `aetui` command in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "aetui", *args], capture_output=True, text=True,
                          env=cli_env(home), timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"aetui {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def aetui_json(home: Path, *args: str):
    return json.loads(aetui(home, *args, "--json").stdout)


@pytest.fixture
def run_cli():
    return aetui
