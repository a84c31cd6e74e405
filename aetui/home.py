"""Where aetui keeps its state: the home folder, its database and its run folders.

Home: `--home`, else `$AETUI_HOME`, else `home` in the config file (`aetui.config`), else
`$XDG_DATA_HOME/aetui` (`~/.local/share/aetui`). The database is `<home>/aetui.db` unless
`$AETUI_DB` (or the file's `db`) gives an SQLAlchemy URL (e.g. a PostgreSQL server that
several machines share). Run folders go under `--runs-root`, else `$AETUI_RUNS_ROOT`, else
the file's `runs_root`, else `<home>/runs`: with several machines, a path all of them mount.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from aetui import config, run_layout


@dataclass(frozen=True)
class Home:
    path: Path
    runs_root: Path | None = None  # `--runs-root`; else $AETUI_RUNS_ROOT, the config's runs_root, <home>/runs

    @classmethod
    def resolve(cls, home: str | Path | None = None, runs_root: str | Path | None = None) -> "Home":
        if home is None:
            home = config.value("home")
        if home is None:
            home = default_path()
        root = Path(runs_root).expanduser().resolve() if runs_root else None
        return cls(Path(home).expanduser().resolve(), root)

    @property
    def db_url(self) -> str:
        url = config.value("db")
        return os.path.expanduser(url) if url else str(self.path / "aetui.db")

    @property
    def runs(self) -> Path:
        root = config.value("runs_root")
        return self.runs_root or (Path(root).expanduser() if root else self.path / "runs")

    def run_dir(self, job_id: int) -> Path:
        return run_layout.run_dir(self.runs, job_id)

    @cached_property
    def db(self):
        """The store's engine, opened on first use (sqlmodel costs ~0.8 s to import)."""
        from store import open_db

        self.path.mkdir(parents=True, exist_ok=True)
        return open_db(self.db_url)


def default_path() -> Path:
    """The home when neither `--home` nor $AETUI_HOME names one: `$XDG_DATA_HOME/aetui`."""
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return (Path(xdg) / "aetui").expanduser().resolve()


def folder_problem(root: str | Path) -> str | None:
    """Why this machine cannot make folders (run folders, a home) at `root`, or None when it
    can. The one writability probe: the CLI's home checks, the queue and the worker use it.

    Tested by doing, not by permission bits (which root ignores): the nearest folder of
    `root` that exists must be a folder, and a folder made in it and removed again. So a
    read-only mount, a file in the way, `/proc/...` and a missing parent are all caught,
    and nothing is left behind either way."""
    if "\0" in str(root):
        return "not a usable path (a NUL byte)"
    path = Path(root).expanduser().absolute()
    existing = next(p for p in (path, *path.parents) if os.path.lexists(p))  # "/" always exists
    if not existing.is_dir():
        return f"{existing} is not a folder"
    import tempfile

    try:
        os.rmdir(tempfile.mkdtemp(prefix=".aetui-probe-", dir=existing))
    except OSError as e:
        return f"cannot create folders in {existing}: {e.strerror or e}"
    return None


def check_runs_root(root: str | Path) -> None:
    """Refuse (UserError, one line) a runs root this machine cannot write: checked when a job
    is queued, so a job whose run folder could never be made is never queued."""
    problem = folder_problem(root)
    if problem is not None:
        from aetui.errors import UserError

        raise UserError(f"runs root {root} is not usable: {problem} (--runs-root, $AETUI_RUNS_ROOT, else <home>/runs)")
