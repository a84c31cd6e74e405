"""`aetui tb` with real processes on 127.0.0.1: a busy port is skipped (or refused when
asked for), and TensorBoard ends with the command, whether it is stopped by a signal or
killed outright (issue 14, defect 7). Every process started here is killed at teardown."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aetui.tb_launch import DEFAULT_PORT
from tests.conftest import ROOT, cli_env, wait_for

HOST = "127.0.0.1"


@pytest.fixture
def started():
    """Start `aetui` commands in their own process group; all of them (and their children)
    are killed at the end of the test."""
    procs: list[subprocess.Popen] = []

    def start(home: Path, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "aetui", *args], env=cli_env(home), cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def occupy(port: int) -> socket.socket | None:
    """A listening socket on HOST:port, or None when something else holds it already."""
    s = socket.socket()
    try:
        s.bind((HOST, port))
    except OSError:
        s.close()
        return None
    s.listen()
    return s


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def test_explicit_busy_port_is_refused_in_one_line(home, started):
    port = free_port()
    holder = occupy(port)
    assert holder is not None
    with holder:
        proc = started(home, "tb", "--host", HOST, "--port", str(port))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    assert "TensorBoard on" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"port {port}" in lines[0] and "--port" in lines[0], err


@pytest.mark.slow  # a real TensorBoard server starts
def test_busy_default_port_takes_the_next_and_sigterm_stops_tensorboard(home, started):
    holder = occupy(DEFAULT_PORT)  # if something else holds it, it is busy all the same
    try:
        proc = started(home, "tb", "--host", HOST)
        first = proc.stderr.readline()
        m = re.search(rf"http://{re.escape(HOST)}:(\d+)", first)
        assert m, first
        port = int(m.group(1))
        assert port != DEFAULT_PORT
        wait_for(lambda: listening(port) or proc.poll() is not None, 90, "TensorBoard listening")
        assert proc.poll() is None, proc.stderr.read()
        (tensorboard,) = children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM
        assert not alive(tensorboard), "TensorBoard outlived aetui tb"
    finally:
        if holder is not None:
            holder.close()


@pytest.mark.slow  # a real TensorBoard server starts
def test_tensorboard_dies_with_a_killed_aetui_tb(home, started):
    proc = started(home, "tb", "--host", HOST, "--port", str(free_port()))
    wait_for(lambda: children(proc.pid), 30, "TensorBoard started")
    (tensorboard,) = children(proc.pid)
    proc.kill()  # no chance to forward anything: the kernel tells TensorBoard
    proc.wait(timeout=10)
    wait_for(lambda: not alive(tensorboard), 30, "TensorBoard gone with its parent")
