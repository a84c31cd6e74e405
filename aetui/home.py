"""Where aetui keeps its state: the home folder, its database and its run folders.

Home: `--home`, else `$AETUI_HOME`, else `$XDG_DATA_HOME/aetui` (`~/.local/share/aetui`).
The database is `<home>/aetui.db` unless `$AETUI_DB` gives an SQLAlchemy URL (e.g. a
PostgreSQL server that several machines share). Run folders go under `--runs-root`, else
`$AETUI_RUNS_ROOT`, else `<home>/runs`: with several machines, a path all of them mount.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from aetui import run_layout


@dataclass(frozen=True)
class Home:
    path: Path
    runs_root: Path | None = None  # `--runs-root`; else $AETUI_RUNS_ROOT, else <home>/runs

    @classmethod
    def resolve(cls, home: str | Path | None = None, runs_root: str | Path | None = None) -> "Home":
        if home is None:
            home = os.environ.get("AETUI_HOME")
        if home is None:
            xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
            home = Path(xdg) / "aetui"
        root = Path(runs_root).expanduser().resolve() if runs_root else None
        return cls(Path(home).expanduser().resolve(), root)

    @property
    def db_url(self) -> str:
        return os.environ.get("AETUI_DB") or str(self.path / "aetui.db")

    @property
    def runs(self) -> Path:
        return self.runs_root or Path(os.environ.get("AETUI_RUNS_ROOT") or self.path / "runs")

    def run_dir(self, job_id: int) -> Path:
        return run_layout.run_dir(self.runs, job_id)

    @cached_property
    def db(self):
        """The store's engine, opened on first use (sqlmodel costs ~0.8 s to import)."""
        from store import open_db

        self.path.mkdir(parents=True, exist_ok=True)
        return open_db(self.db_url)
