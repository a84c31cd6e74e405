"""Shared fixtures: a fresh home folder per test, a way to run the real CLI, the processes
a test starts (all stopped when it ends) and random seeds a failure can be replayed with."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Every process a test starts (the CLI, workers, their job children, benchmark scripts run by
# path) imports aetui and store from this checkout, whatever its working folder: an editable
# install may point at another checkout (a git worktree, a second clone) with other code.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

# fixtures for every store backend (SQLite; PostgreSQL and Slurm when present): tests/backends.py
pytest_plugins = ["tests.backends"]

# A tiny training spec: seconds on 2 CPU cores.
TINY = ["unet", "--res", "32", "--base-width", "4", "--depth", "2", "--data", "builtin:64",
        "--batch-size", "8", "--log-every", "5", "--image-every", "10", "--checkpoint-every", "10"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests on a PostgreSQL store are slow (a service): those that use `pg_url` and the
    PostgreSQL case of `backend_url` (the other slow tests are marked where they are)."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "pg_url" in getattr(item, "fixturenames", ()) or params.get("backend_url") == "postgresql":
            item.add_marker(pytest.mark.slow)


# In the environment of every process a test starts, and so of everything those start in turn
# (a worker's job children, which make process groups of their own; a detached worker, which
# makes its own session): what still runs when the test ends is found by it and killed.
PROCESS_TAG = "PYTEST_AETUI_PROCESS_TAG"  # no AETUI_ prefix: cli_env drops those
SEED_VAR = "AETUI_TEST_SEED"  # replays a test that draws random moments: AETUI_TEST_SEED=123 pytest -k ...
# No config file (`aetui.config`): a developer's own ~/.config/aetui/config.toml never
# reaches the tests; a test that wants one sets AETUI_CONFIG (kept by cli_env and `aetui`)
CONFIG_VAR = "AETUI_CONFIG"
os.environ[CONFIG_VAR] = os.devnull


def _pids() -> set[int]:
    return {int(name) for name in os.listdir("/proc") if name.isdigit()} if os.path.isdir("/proc") else set()


def _tagged(pids: set[int], tag: bytes) -> list[int]:
    """Those of `pids` that carry `tag` in their environment (not this process, nor the
    helper process multiprocessing keeps for the whole session)."""
    found = []
    for pid in pids - {os.getpid()}:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if tag not in f.read().split(b"\0"):
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"multiprocessing.resource_tracker" in f.read():
                    continue
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append(pid)
    return found


def kill_tagged(tag: str, candidates: set[int]) -> list[int]:
    """SIGKILL every process among `candidates` that carries `tag` (SIGKILL ends a stopped one too)."""
    killed = []
    for pid in _tagged(candidates, f"{PROCESS_TAG}={tag}".encode()):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed


@pytest.fixture(autouse=True)
def _stop_what_the_test_started(monkeypatch: pytest.MonkeyPatch):
    """Whatever a test started and is still running when it ends, pass or fail, is killed:
    a worker left behind by a failed assertion would otherwise run on, orphaned, for hours.
    Only processes that did not exist before the test are looked at (cheap, and never
    another session's).

    The SIGTERM and SIGINT handlers come back too: a worker run in this process installs
    its own (stop requests) and leaves them, after which neither Ctrl-C nor CI's `timeout`
    could stop pytest."""
    tag = uuid.uuid4().hex
    monkeypatch.setenv(PROCESS_TAG, tag)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    before = _pids()
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    kill_tagged(tag, _pids() - before)


class Procs:
    """Long-lived processes of one test: each starts in a process group of its own; at the
    end of the test (pass or fail) each group is killed and each process reaped."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen] = []

    def start(self, args: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):  # the group is gone already
                pass
        for proc in self.started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def procs():
    """`procs.start([...], ...)`: a `subprocess.Popen` that the test cannot leave running."""
    started = Procs()
    yield started
    started.stop_all()


@pytest.fixture
def seed() -> int:
    """A random seed for a test that draws random moments; $AETUI_TEST_SEED replays one.
    Printed (pytest shows it with a failure); tests also put it in their assertion messages."""
    value = int(os.environ[SEED_VAR]) if os.environ.get(SEED_VAR) else random.randrange(1 << 30)
    print(f"random seed {value} (replay: {SEED_VAR}={value})")
    return value


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
    env[CONFIG_VAR] = os.environ.get(CONFIG_VAR, os.devnull)
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
    env[CONFIG_VAR] = os.environ.get(CONFIG_VAR, os.devnull)
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


def wait_for(predicate, timeout: float = 120, what: str = "", *, every: float = 0.05, why=None):
    """Poll `predicate` every `every` seconds until it returns something true (returned);
    fail after `timeout` seconds naming `what`, and what `why()` says then. Deadlines are
    generous: no test may assume the machine's speed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}" + (f": {why()}" if why else ""))
