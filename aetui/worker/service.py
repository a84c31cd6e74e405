"""`aetui worker --install-service`: a systemd user unit that runs the worker, so the queue
resumes after a reboot (with `loginctl enable-linger`, without anyone logging in).

How it stops matters: `systemctl --user stop` (and a shutdown) sends SIGTERM to the worker
alone (`KillMode=mixed`); the worker then asks each running job to checkpoint, waits up to
its grace period and requeues them (`aetui.worker.supervisor`). Only what still runs after
`TimeoutStopSec` (the grace period and a margin) gets SIGKILL. With systemd's default
(`control-group`) every job process would get SIGTERM at the same moment as the worker,
outside its control. A worker that crashes (an unreachable store at boot, say) is
restarted (`Restart=on-failure`); one stopped on purpose is not.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from pathlib import Path

from aetui.worker.defaults import CANCEL_GRACE_S

UNIT = "aetui-worker"
STOP_MARGIN_S = 30  # beyond the jobs' grace period: the worker's own exit (store writes, logs)
RESTART_S = 10  # between a crash and the restart (systemd allows 5 starts in 10 s by default)
# the environment that says where the store and the runs are, carried into the unit as set here
CARRIED_ENV = ("AETUI_DB", "AETUI_RUNS_ROOT", "AETUI_CONFIG")


def unit_dir() -> Path:
    """Where systemd looks for a user's own units."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def unit_name(home: Path, default_home: Path) -> str:
    """`aetui-worker.service` for the default home; for any other home a name of its own
    (its folder's name and a hash of its path), so one user can run a worker per home."""
    if home == default_home:
        return f"{UNIT}.service"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", home.name).strip("-.")[:32] or "home"
    digest = hashlib.sha256(str(home).encode()).hexdigest()[:8]
    return f"{UNIT}-{stem}-{digest}.service"


def aetui_command() -> list[str]:
    """This installation's `aetui`: the console script beside the running interpreter (the
    virtual environment's, not resolved through its symlink), else `python -m aetui`."""
    import sys

    python = Path(sys.executable).absolute()
    script = python.parent / "aetui"
    return [str(script)] if script.is_file() else [str(python), "-m", "aetui"]


def unit_text(home: Path, worker_args: list[str], *, grace_s: float = CANCEL_GRACE_S,
              env: dict[str, str] | None = None) -> str:
    """The unit file: the worker of `home` with `worker_args` (devices, per-device, ...)."""
    command = [*aetui_command(), "worker", "--home", str(home), *worker_args]
    carried = {k: v for k, v in (env if env is not None else os.environ).items() if k in CARRIED_ENV and v}
    lines = [
        "# Written by `aetui worker --install-service`; run it again to rewrite this file.",
        "[Unit]",
        f"Description=aetui worker for {_escape(str(home))}",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={' '.join(_quote(a, command_line=True) for a in command)}",
        "Environment=PYTHONUNBUFFERED=1",
        *(f"Environment={_quote(f'{k}={v}')}" for k, v in sorted(carried.items())),
        "Restart=on-failure",
        f"RestartSec={RESTART_S}",
        "# SIGTERM to the worker alone: it checkpoints and requeues its jobs, then exits;",
        "# whatever still runs after TimeoutStopSec is killed",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={int(grace_s + STOP_MARGIN_S)}",
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def install(home: Path, default_home: Path, worker_args: list[str], *, grace_s: float = CANCEL_GRACE_S) -> Path:
    """Write the unit file (replacing an earlier one of the same home) and return its path.
    It may carry the store's URL (a password), so only its owner can read it."""
    path = unit_dir() / unit_name(home, default_home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(unit_text(home, worker_args, grace_s=grace_s))
    os.replace(tmp, path)
    return path


def instructions(path: Path) -> str:
    """What to run next: systemd picks the unit up, starts it now and at each login; linger
    starts it at boot and keeps it running after the last logout."""
    import getpass

    name = path.name
    return "\n".join([
        f"wrote {path}",
        "start it now and at every boot:",
        "  systemctl --user daemon-reload",
        f"  systemctl --user enable --now {name}",
        "let it run without a login session (at boot, after you log out):",
        f"  loginctl enable-linger {shlex.quote(getpass.getuser())}",
        "its log, and how to stop it (its jobs checkpoint and go back to the queue):",
        f"  journalctl --user -u {name} -f",
        f"  systemctl --user stop {name}",
    ])


def _escape(text: str, *, command_line: bool = False) -> str:
    """systemd expands `%` specifiers in every setting, and `$` variables in a command line."""
    text = text.replace("%", "%%")
    return text.replace("$", "$$") if command_line else text


def _quote(arg: str, *, command_line: bool = False) -> str:
    """One word of a systemd command line, or an `Environment=` assignment: quoted (C-style
    escapes) when it holds a space, a quote, a backslash or a semicolon."""
    arg = _escape(arg, command_line=command_line)
    if arg and not re.search(r"[\s\"'\\;]", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
