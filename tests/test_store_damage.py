"""A truncated or corrupted store is refused with one line that says what to do, never
replaced by an empty one; backups are kept and restored (issue 12)."""

from __future__ import annotations

import gc
import sqlite3
import subprocess
from pathlib import Path

import pytest

from store import migrations, open_db, queries
from tests.conftest import TINY, aetui, aetui_json, aetui_proc

VERBS = [("runs",), ("show", "1"), ("queue", *TINY), ("cancel", "1"), ("db", "status")]


def with_jobs(home: Path, n: int = 3) -> Path:
    for _ in range(n):
        aetui(home, "queue", *TINY)
    gc.collect()  # the in-process commands' engines close their connections now, not mid-test
    return home / "aetui.db"


def scribble(db: Path, offset: int, length: int = 800) -> None:
    gc.collect()  # connections left by in-process commands fold the log into the file first
    for side in ("-wal", "-shm"):  # what is in the log would be folded back in
        Path(f"{db}{side}").unlink(missing_ok=True)
    with open(db, "r+b") as f:
        f.seek(offset)
        f.write(b"\xde\xad\xbe\xef" * (length // 4))


def assert_refused(home: Path, db: Path, size: int) -> None:
    for verb in VERBS:
        r = aetui(home, *verb, check=False)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (verb, r.stdout, r.stderr)
        assert lines[0].startswith("aetui: error: the store") and "aetui db check" in lines[0], verb
        assert "aetui db restore" in lines[0] and "new home" in lines[0]
    r = aetui_proc(home, "worker", "--until-empty", "--devices", "cpu", check=False, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = [line for line in r.stderr.splitlines() if line.strip()]
    assert line.startswith("aetui: error: the store") and "aetui db check" in line
    assert db.stat().st_size == size  # never replaced by an empty store


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_truncated_store_is_refused_not_recreated(home):
    db = with_jobs(home)
    subprocess.run(["truncate", "-s", "0", str(db)], check=True)
    assert_refused(home, db, 0)
    assert "0 bytes" in aetui(home, "runs", check=False).stderr


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
@pytest.mark.parametrize("where", [0, 100], ids=["header", "schema-page"])
def test_corrupted_store_is_one_line_for_every_verb(home, where):
    db = with_jobs(home)
    scribble(db, where)
    assert_refused(home, db, db.stat().st_size)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_db_status_and_check_see_damaged_pages_and_restore_mends_them(home):
    db = with_jobs(home, 40)
    assert "up to date" in aetui(home, "db", "status").stdout
    assert aetui(home, "db", "check", "--full").returncode == 0
    made = aetui_json(home, "db", "backup")["backup"]
    scribble(db, 4096 * 3, 4096)  # a page of the job table, not the schema
    status = aetui(home, "db", "status", check=False)
    assert status.returncode == 2 and "up to date" not in status.stdout and "damaged" in status.stderr
    checked = aetui(home, "db", "check", check=False)
    assert checked.returncode == 2 and checked.stdout.strip() and len(checked.stderr.strip().splitlines()) == 1
    listed = aetui(home, "db", "restore", "--list").stdout
    assert made in listed
    restored = aetui_json(home, "db", "restore", "--yes")
    assert restored["restored"] == made and Path(restored["replaced_kept_as"]).is_file()
    assert aetui(home, "db", "check", "--full").returncode == 0
    assert len(aetui_json(home, "runs")) == 40
    # a job queued now is numbered above every job the backup knew
    assert aetui_json(home, "queue", *TINY)["id"] == 41


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_daily_backup_is_kept_once_a_day_and_only_when_sound(home):
    import os

    from store import backup, health

    db = with_jobs(home, 1)  # its first write: the day's backup, with the job in it
    (first,) = backup.backups(db)
    assert first.name.endswith("-daily.db") and not health.check(first)
    con = sqlite3.connect(first)
    assert con.execute("SELECT count(*) FROM job").fetchone()[0] == 1
    con.close()
    with_jobs(home, 1)
    assert backup.backups(db) == [first]  # at most one a day
    os.utime(first, (first.stat().st_atime, first.stat().st_mtime - 2 * backup.DAILY_S))  # two days later
    aetui(home, "show", "1")
    assert aetui(home, "cancel", "99", check=False).returncode == 2
    assert backup.backups(db) == [first]  # reads and refusals write nothing, not even a backup
    aetui(home, "priority", "1", "3")
    assert len(backup.backups(db)) == 2
    for _ in range(backup.KEEP + 2):
        backup.take(db, "manual")
    kept = backup.backups(db)
    assert len(kept) == backup.KEEP and first not in kept
    scribble(db, 100)
    with pytest.raises(health.StoreDamaged):
        backup.take(db, "manual")
    assert backup.backups(db) == kept  # a damaged store never rotates the good backups away


def test_a_backup_is_taken_before_each_migration(tmp_path):
    from store import backup
    from tests.test_migrations import at_revision

    path = tmp_path / "aetui.db"
    at_revision(f"sqlite:///{path}", "0002")
    db = open_db(path)
    assert migrations.status(db).current == migrations.HEAD
    names = [b.name for b in backup.backups(path)]
    assert any(n.endswith(f"-before-{migrations.HEAD}.db") for n in names)
    assert queries.get_job(db, 1).label == "old"


def test_db_status_of_a_home_without_a_store_creates_nothing(tmp_path):
    home = tmp_path / "nohome"
    assert "no store yet" in aetui(home, "db", "status").stdout
    assert not (home / "aetui.db").exists()
