"""`aetui tb`: TensorBoard as a child that lives exactly as long as the command.

The command picks a free port before it says where TensorBoard listens (a busy port used
to print the address, then fail with exit 255 and no hint), forwards SIGTERM, SIGINT and
SIGHUP to TensorBoard and waits for it, and has the kernel stop TensorBoard when the
command dies without a chance to forward anything (a SIGKILL): no TensorBoard is left
running, re-parented to init, after `aetui tb` is gone.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from aetui.errors import UserError

DEFAULT_PORT = 6006
PORTS_TRIED = 50  # from the default port on, when none was asked for
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
KILL_AFTER_S = 10.0  # a TensorBoard that ignores the forwarded signal is killed after this


class PortBusy(UserError):
    """The port asked for is taken (the CLI says so in one line, exit 2)."""


def port_free(host: str, port: int) -> bool:
    """Whether a server could listen on `host:port` now (bound the way TensorBoard's
    server binds, with SO_REUSEADDR). Only 'address in use' counts as busy: an address
    family the machine lacks (no IPv6 for `localhost`) is TensorBoard's to skip."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return True  # TensorBoard will say what is wrong with the host
    for family, kind, proto, _, address in infos:
        try:
            with socket.socket(family, kind, proto) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
    return True


def choose_port(host: str, port: int | None) -> int:
    """`port` if given and free (PortBusy if not: the user asked for that one), else the
    first free port from DEFAULT_PORT on."""
    if port is not None:
        if not port_free(host, port):
            raise PortBusy(f"port {port} on {host} is in use; choose another with --port, "
                           "or leave --port out to take the next free one")
        return port
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + PORTS_TRIED):
        if port_free(host, candidate):
            return candidate
    raise PortBusy(f"ports {DEFAULT_PORT}-{DEFAULT_PORT + PORTS_TRIED - 1} on {host} are all in use; "
                   "choose one with --port")


def run_names(runs: list[tuple[int, str, dict, str, Path]]) -> dict[str, Path]:
    """The name TensorBoard shows for each run folder: its job id and the settings that
    differ among the jobs of its kind (`aetui.settings_diff`), e.g. `7 lr=0.001 seed=1`;
    a job whose settings all agree with the others' keeps its label. `runs` holds
    (job id, kind, spec, label, folder). The folders keep their paths."""
    from aetui.settings_diff import describe, differing

    by_kind: dict[str, list[dict]] = {}
    for _, kind, spec, _, _ in runs:
        by_kind.setdefault(kind, []).append(spec)
    keys = {kind: differing(specs) for kind, specs in by_kind.items()}
    names = {}
    for job_id, kind, spec, label, folder in runs:
        words = describe(spec, keys[kind]) or label
        names[_tb_safe(f"{job_id} {'' if kind == 'train' else kind + ' '}{words}".strip())] = folder
    return names


def _tb_safe(name: str) -> str:
    """A name `--logdir_spec` keeps whole: it splits on commas and at the first colon."""
    return name.replace(":", "-").replace(",", ";")


def logdir_spec(names: dict[str, Path]) -> str | None:
    """`name:path,...` for TensorBoard, or None when a path holds a comma (it cannot be said)."""
    if not names or any("," in str(path) for path in names.values()):
        return None
    return ",".join(f"{name}:{path}" for name, path in names.items())


def serve(logdir: Path, host: str, port: int, spec: str | None = None) -> int:
    """Run TensorBoard until it ends or this process is told to stop; the exit status.
    `spec`: a `--logdir_spec` naming each run folder (`run_names`), else `--logdir`."""
    from aetui.worker.lifeline import die_with_parent

    parent = os.getpid()
    where = ["--logdir_spec", spec] if spec else ["--logdir", str(logdir)]
    cmd = [sys.executable, "-m", "tensorboard.main", *where, "--host", host, "--port", str(port)]
    stopped: list[int] = []
    # signals that arrive while the child starts are held until it can be told
    previous = {s: signal.signal(s, lambda signum, frame: stopped.append(signum)) for s in STOP_SIGNALS}
    try:
        proc = subprocess.Popen(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                                preexec_fn=lambda: die_with_parent(parent))

        def forward(signum: int, frame) -> None:
            stopped.append(signum)
            if proc.poll() is None:
                proc.send_signal(signum)

        for s in STOP_SIGNALS:
            signal.signal(s, forward)
        if stopped and proc.poll() is None:
            proc.send_signal(stopped[0])
        deadline = None
        while True:
            try:
                code = proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stopped and deadline is None:
                    deadline = time.monotonic() + KILL_AFTER_S
                if deadline is not None and time.monotonic() > deadline:
                    proc.kill()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopped:  # stopped on purpose: Ctrl-C is a normal end, other signals say which
        return 0 if stopped[0] == signal.SIGINT else 128 + stopped[0]
    return 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
