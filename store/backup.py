"""Rolling backups of an SQLite store, and restoring one.

A backup is taken with SQLite's online backup API (a consistent copy while workers write),
checked with `PRAGMA quick_check`, and only then kept, so a damaged store never rotates the
good backups away. When: before every schema migration, at most once a day after a
process's first write (`store.engine.write`: a worker's first claim, a verb that changes
something), and on `aetui db backup`. The newest `KEEP` are kept in `backups/` next to the
store file.

`restore` puts a backup in the store's place; the file it replaces (damaged, empty) is
kept beside it as `aetui.db.damaged-<time>`, never deleted.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from store.health import check, damaged, is_damage

KEEP = 5
DAILY_S = 24 * 3600
FOLDER = "backups"


def folder(db: Path) -> Path:
    return db.parent / FOLDER


def backups(db: Path) -> list[Path]:
    """This store's backups, newest first."""
    where = folder(db)
    if not where.is_dir():
        return []
    found = [p for p in where.glob(f"{db.stem}-*{db.suffix}") if p.is_file()]
    return sorted(found, key=lambda p: p.name, reverse=True)


def take(db: Path, reason: str) -> Path | None:
    """Copy the store into `backups/` and drop the oldest beyond KEEP; None (nothing kept
    or dropped) when the copy cannot be written (a read-only home). A copy that is not
    sound is dropped and `StoreDamaged` raised: the store itself is damaged."""
    where = folder(db)
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}"
    target = where / f"{db.stem}-{stamp}-{reason}{db.suffix}"
    tmp = where / f".{target.name}.{os.getpid()}.tmp"
    try:
        where.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
        try:
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
        problems = check(tmp)
        if problems:
            tmp.unlink(missing_ok=True)
            raise damaged(db, problems[0])
        os.replace(tmp, target)
    except sqlite3.DatabaseError as e:
        tmp.unlink(missing_ok=True)
        if is_damage(e):
            raise damaged(db, str(e)) from None
        return None
    except OSError:
        tmp.unlink(missing_ok=True)
        return None
    for old in backups(db)[KEEP:]:
        old.unlink(missing_ok=True)
    return target


def take_if_due(db: Path) -> Path | None:
    """A daily backup, when the newest is a day old (or there is none) and the store has
    jobs to lose. A read-only home simply gets none; a store whose copy is not sound raises
    `StoreDamaged` (and no good backup is rotated away)."""
    try:
        newest = backups(db)
        if newest and time.time() - newest[0].stat().st_mtime < DAILY_S:
            return None
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=60)
        try:
            if con.execute("SELECT 1 FROM job LIMIT 1").fetchone() is None:
                return None
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        if is_damage(e):
            raise damaged(db, str(e)) from None
        return None
    except OSError:
        return None
    return take(db, "daily")


def restore(db: Path, backup: Path | None = None) -> tuple[Path, Path | None]:
    """Put a backup (the newest sound one when None) in the store's place; returns it and
    where the replaced file was kept. ValueError when there is no sound backup."""
    if backup is None:
        sound = [b for b in backups(db) if not check(b)]
        if not sound:
            raise ValueError(f"no sound backup of {db} in {folder(db)}")
        backup = sound[0]
    elif not backup.is_file():
        raise ValueError(f"no backup {backup}")
    elif check(backup):
        raise ValueError(f"the backup {backup} is not sound either: {check(backup)[0]}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    tmp = db.with_name(f".{db.name}.restore.{os.getpid()}.tmp")
    src = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    kept = None
    if db.exists():
        kept = db.with_name(f"{db.name}.damaged-{stamp}")
        os.replace(db, kept)
    for suffix in ("-wal", "-shm"):  # the old file's log must never be replayed into the backup
        side = db.with_name(db.name + suffix)
        if side.exists():
            os.replace(side, kept.with_name(kept.name + suffix) if kept else side.with_name(side.name + ".old"))
    os.replace(tmp, db)
    return backup, kept
