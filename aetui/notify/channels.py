"""The ways a message leaves: a shell command and apprise URLs, each in a process of its
own that is stopped (its whole process group) at the timeout, so a hanging notifier costs
at most that long and never the job anything.

`Channels.from_config()` reads `[notify]` (`aetui.config`); `send(message)` tries every
channel and returns what went wrong (redacted: no token of a URL in it), [] when all took it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from aetui.config import redact
from aetui.notify.message import Message


@dataclass(frozen=True)
class Channels:
    command: str | None = None
    urls: list[str] = field(default_factory=list)
    on: list[str] = field(default_factory=list)
    timeout_s: float = 30.0

    @classmethod
    def from_config(cls) -> "Channels":
        from aetui import config

        return cls(command=config.value("notify.command") or None, urls=list(config.value("notify.urls") or []),
                   on=list(config.value("notify.on") or []), timeout_s=float(config.value("notify.timeout")))

    @property
    def any(self) -> bool:
        return bool(self.command or self.urls)

    def describe(self) -> list[str]:
        """Each channel, redacted, for `aetui notify test` and the worker's log."""
        out = [f"command: {redact(self.command)}"] if self.command else []
        return out + [f"apprise: {redact(url)}" for url in self.urls]

    def send(self, message: Message) -> list[str]:
        """Every channel at once (each within the timeout), so a hanging one delays no other."""
        from concurrent.futures import ThreadPoolExecutor

        tries = ([("command", run_command, self.command)] if self.command else []) + \
                ([("apprise", run_apprise, self.urls)] if self.urls else [])
        if not tries:
            return []
        with ThreadPoolExecutor(len(tries)) as pool:
            futures = [(name, pool.submit(fn, target, message, self.timeout_s)) for name, fn, target in tries]
            return [f"{name}: {problem}" for name, future in futures if (problem := future.result())]


def run_command(command: str, message: Message, timeout_s: float) -> str | None:
    """Run `command` with /bin/sh, the message in its environment; None when it exited 0."""
    env = {**os.environ, **message.env()}
    return _run(["/bin/sh", "-c", command], env, None, timeout_s)


def run_apprise(urls: list[str], message: Message, timeout_s: float) -> str | None:
    request = json.dumps({"urls": urls, "title": message.title, "body": message.body})
    return _run([sys.executable, "-m", "aetui.notify.apprise_send"], dict(os.environ), request, timeout_s)


def _run(args: list[str], env: dict[str, str], stdin: str | None, timeout_s: float) -> str | None:
    try:
        proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)  # its own group: stopped whole at the timeout
    except OSError as e:
        return redact(f"cannot start: {e}")
    try:
        _, err = proc.communicate(stdin, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        proc.stderr.close()  # a descendant that left the group may hold it open: not waited for
        return f"no answer within {timeout_s:g} s; stopped"
    if proc.returncode == 0:
        return None
    tail = " | ".join((err or "").strip().splitlines()[-3:])[-400:]
    return redact(f"exit code {proc.returncode}" + (f": {tail}" if tail else ""))
