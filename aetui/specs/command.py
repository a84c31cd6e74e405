"""The `command` job kind's spec: any program, queued shell-free as an argv list
(`aetui add -- CMD ARGS...`; runner: `aetui.experiments.command`).

What is stored is all the worker needs and nothing more: the argv, the folder it runs in
(captured at queue time), the environment taken along from the queueing shell (only the
variables a program needs to find its interpreter and libraries, `CARRIED_ENV`) and the
user's own `--env` pairs. The whole environment never lands in the store: tokens would.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from aetui.defaults import LIMITS
from aetui.errors import UserError

# taken along from the queueing shell (exact names, and every LC_* variable)
CARRIED_ENV = ("PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "PYTHONPATH", "PYTHONHOME",
               "LD_LIBRARY_PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR",
               "TERM", "CUDA_HOME", "CUDA_PATH")
# set by the worker for every attempt: a user's --env cannot change them
WORKER_ENV = ("AETUI_JOB_ID", "AETUI_RUN_DIR", "AETUI_ATTEMPT", "AETUI_TB_DIR", "CUDA_VISIBLE_DEVICES",
              "CUDA_DEVICE_ORDER")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def carried_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The part of an environment a command job takes along (`CARRIED_ENV`, `LC_*`)."""
    environ = dict(os.environ if environ is None else environ)
    return {k: v for k, v in sorted(environ.items()) if k in CARRIED_ENV or k.startswith("LC_")}


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    """`--env KEY=VALUE` (repeatable) -> a dict; UserError naming the bad pair."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not _ENV_NAME.fullmatch(key):
            raise UserError(f"--env {pair!r}: expected KEY=VALUE, KEY a variable name")
        if key in WORKER_ENV:
            raise UserError(f"--env {key}: set by the worker for every run; it cannot be given")
        out[key] = value
    return out


class CommandSpec(BaseModel):
    """A program run as is, with the devices the worker claimed for it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["command"] = "command"
    argv: list[str] = Field(min_length=1, description="the program and its arguments, no shell")
    cwd: str = Field(description="the absolute folder it runs in (the queueing shell's, or --cwd)")
    env: dict[str, str] = Field(default_factory=dict, description="the environment taken along (CARRIED_ENV)")
    user_env: dict[str, str] = Field(default_factory=dict, description="--env KEY=VALUE, over `env`")
    name: str = Field("", max_length=200, description="--name: what the table shows instead of the command")
    gpus: int = Field(1, ge=1, le=LIMITS["gpus"], description="devices it sees (one process sees them all)")

    @field_validator("argv")
    @classmethod
    def _argv(cls, argv: list[str]) -> list[str]:
        if not argv[0].strip():
            raise ValueError("no command after --")
        if any("\0" in a for a in argv):
            raise ValueError("a command argument holds a NUL byte")
        return argv

    @field_validator("cwd")
    @classmethod
    def _cwd(cls, cwd: str) -> str:
        if not os.path.isabs(cwd) or len(cwd) > LIMITS["path_chars"]:
            raise ValueError(f"--cwd {cwd!r}: an absolute folder")
        return cwd

    def check_files(self, home: Path) -> None:
        """At queue time: the folder it runs in exists (`aetui.jobs.submit` calls this)."""
        if not Path(self.cwd).is_dir():
            raise UserError(f"--cwd {self.cwd}: no such folder")

    @property
    def label(self) -> str:
        return self.name or shlex.join(self.argv)[:200]
