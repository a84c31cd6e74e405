"""A damaged SQLite store is refused with one line that says what to do, never replaced.

Two faults, both seen in the field:
- a store truncated to 0 bytes (a full disk, `truncate`, a bad copy): SQLite would take it
  for a new, empty database and aetui would create empty tables in it, so every job would
  be forgotten and the next job would start again at number 1. `refuse_empty` stops that;
  `store.engine` creates a new store only where no file is (atomically, so a half-made
  store is never seen either).
- corrupted pages or header: every query raised a long SQLAlchemy traceback.
  `guard` turns SQLite's "file is not a database" and "database disk image is malformed"
  into `StoreDamaged` on every statement of the engine.

`check` runs `PRAGMA quick_check` or `integrity_check` (`aetui db status`, `aetui db check`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

# SQLite's words for a file that is not (or no longer) a sound database
DAMAGE_WORDS = ("file is not a database", "malformed", "file is encrypted", "not a database")


class StoreDamaged(ValueError):
    """The store file is truncated or corrupted; the text says what to do (the CLI shows it
    as one line, exit 2: `aetui.cli.options.is_user_error`)."""


def advice(path: Path | str) -> str:
    return (f"run `aetui db check` for details, then restore the automatic backup "
            f"(`aetui db restore`, backups in {Path(path).parent / 'backups'}) "
            f"or start a new home (--home)")


def refuse_empty(path: Path) -> None:
    """StoreDamaged when the store file exists but is empty (a truncated store)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        raise StoreDamaged(f"the store {path} is empty (0 bytes): it was truncated, and its jobs are not in it; "
                           f"{advice(path)}; aetui never replaces it with an empty store")


def is_damage(error: BaseException) -> bool:
    return isinstance(error, sqlite3.DatabaseError) and any(w in str(error).lower() for w in DAMAGE_WORDS)


def damaged(path: Path | str, why: str) -> StoreDamaged:
    return StoreDamaged(f"the store {path} is damaged ({why.strip().splitlines()[0][:120]}); {advice(path)}")


def guard(engine) -> None:  # noqa: ANN001
    """Every statement on this SQLite engine that meets a damaged file raises StoreDamaged."""
    from sqlalchemy import event

    path = engine.url.database

    @event.listens_for(engine, "handle_error")
    def _on_error(context):  # noqa: ANN001
        if is_damage(context.original_exception):
            raise damaged(path, str(context.original_exception)) from context.original_exception


def check(path: Path, *, full: bool = False, limit: int = 20) -> list[str]:
    """The problems SQLite finds in the file (`quick_check`, or `integrity_check` when
    `full`); [] when it is sound. An unreadable file is one problem."""
    if path.is_file() and path.stat().st_size == 0:
        return ["the file is empty (0 bytes)"]
    pragma = "integrity_check" if full else "quick_check"
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=60)
        try:
            rows = [r[0] for r in con.execute(f"PRAGMA {pragma}({limit})")]
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        return [str(e)]
    if rows == ["ok"]:
        return []
    lines = [line for row in rows for line in str(row).splitlines()]
    return [line for line in lines if line.strip() and not line.startswith("***")] or lines
