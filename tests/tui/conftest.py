"""Fixtures for the dashboard tests: a seeded home (fresh per test) and one at a fixed
path for snapshots; times render in UTC."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from aetui.home import Home

from .seed import bulk, seed


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch):
    """Times render in UTC so screens and snapshots are the same everywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    for var in ("AETUI_DB", "AETUI_RUNS_ROOT", "AETUI_GRAPHICS"):
        monkeypatch.delenv(var, raising=False)
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """Seeded once per session; each test gets a copy (seeding costs ~0.5 s)."""
    path = tmp_path_factory.mktemp("template") / "home"
    home = Home(path)
    ids = seed(home)
    home.db.dispose()
    return path, ids


def copy_home(template: Path, target: Path) -> Home:
    """A copy of a seeded home (its run folders are stored relative to it, so the copy's
    point into the copy)."""
    shutil.copytree(template, target)
    return Home(target)


@pytest.fixture
def seeded(seeded_template, tmp_path: Path) -> tuple[Home, dict[str, int]]:
    template, ids = seeded_template
    home = copy_home(template, tmp_path / "home")
    yield home, dict(ids)
    home.db.dispose()


@pytest.fixture
def snap_home(seeded_template) -> Home:
    """A seeded home at a path of fixed length (run folders show in the screens being
    snapshotted, and wrap by their length), unique to this process."""
    base = Path("/tmp") if Path("/tmp").is_dir() else Path(tempfile.gettempdir())
    path = base / f"aetui-tui-snapshot-{os.getpid():08d}"
    shutil.rmtree(path, ignore_errors=True)
    home = copy_home(seeded_template[0], path)
    yield home
    home.db.dispose()
    shutil.rmtree(path, ignore_errors=True)




@pytest.fixture(scope="session")
def big_template(seeded_template, tmp_path_factory) -> Path:
    """The seeded home plus 10,000 finished jobs, built once per session."""
    path = tmp_path_factory.mktemp("big") / "home"
    home = copy_home(seeded_template[0], path)
    bulk(home, 10_000)
    home.db.dispose()
    return path


@pytest.fixture
def big_home(big_template, tmp_path: Path) -> Home:
    home = copy_home(big_template, tmp_path / "home")
    yield home
    home.db.dispose()
