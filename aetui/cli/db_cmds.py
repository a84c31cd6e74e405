"""`aetui db`: the store's schema (status, upgrade), its health (check) and its backups
(backup, restore).

SQLite upgrades itself when opened; a PostgreSQL store shared by several machines is
upgraded here, once, after aetui was updated on every machine that uses it. An SQLite store
is backed up before each migration and at most daily (`store.backup`); `aetui db restore`
puts a backup back (docs/queue.md, "When the store is damaged or lost").
"""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

from typing import Annotated, Optional

import typer

from aetui.cli.options import HomeOpt, JsonOpt, home_of, print_json, user_errors
from aetui.errors import UserError

db_app = typer.Typer(help="The store: `aetui db status`, `upgrade`, `check`, `backup`, `restore`.",
                     no_args_is_help=True)


def register(app: typer.Typer) -> None:
    for fn in (status, upgrade, check, backup, restore):
        db_app.command(name=fn.__name__)(user_errors(fn))
    app.add_typer(db_app, name="db")


def _store(home: Optional[str]):
    """(the home, the SQLite file or None for another backend)."""
    from store.engine import sqlite_file

    h = home_of(home)
    return h, sqlite_file(h.db_url)


def _engine(home: Optional[str]):
    """The engine of an existing store (nothing is created: an SQLite file that is not there
    is reported, an empty one refused)."""
    from store.engine import make_engine
    from store.health import refuse_empty

    h, path = _store(home)
    if path is not None:
        refuse_empty(path)
        if not path.is_file():
            return None
    return make_engine(h.db_url, create=path is None)


def _sound(path) -> None:
    """UserError (one line) when SQLite's quick_check finds the file damaged."""
    from store.health import check as problems_of, damaged

    problems = problems_of(path)
    if problems:
        raise damaged(path, f"{len(problems)} problem(s), first: {problems[0]}")


def status(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """The database, its schema revision and the revisions an upgrade would apply.

    Example: `AETUI_DB=postgresql://lab@dbhost/aetui aetui db status`
    """
    from store import migrations

    engine = _engine(home)
    if engine is None:  # an SQLite file not made yet: say so without making it
        h, path = _store(home)
        if json:
            print_json({"backend": "sqlite", "url": f"sqlite:///{path}", "current": None, "head": migrations.head(),
                        "pending": [], "up_to_date": False, "exists": False})
        else:
            typer.echo(f"no store yet at {path}; `aetui db upgrade` (or any command that needs it) creates it "
                       f"at revision {migrations.head()}")
        return
    _, path = _store(home)
    if path is not None:
        _sound(path)  # "up to date" must not be said of a damaged file
    st = migrations.status(engine)
    out = {"backend": st.backend, "url": engine.url.render_as_string(hide_password=True),
           "current": st.current, "head": st.head, "pending": list(st.pending), "up_to_date": st.up_to_date}
    if json:
        print_json(out)
        return
    typer.echo(f"{out['url']} ({st.backend})")
    if st.current is None:
        typer.echo(f"no aetui tables yet; `aetui db upgrade` creates them at revision {st.head}")
    elif st.up_to_date:
        typer.echo(f"schema revision {st.current}: up to date")
    else:
        typer.echo(f"schema revision {st.current}; this aetui needs {st.head}: run `aetui db upgrade`"
                   + (f" (applies {', '.join(st.pending)})" if st.pending else ""))


def upgrade(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Create the tables, or upgrade them to this aetui's schema (needed on PostgreSQL).

    Run it once after updating aetui on every machine that shares the database.
    Example: `AETUI_DB=postgresql://lab@dbhost/aetui aetui db upgrade`
    """
    from store import migrations
    from store.engine import open_db

    h, path = _store(home)
    if path is not None and not path.exists():
        open_db(h.db_url).dispose()  # a new store, made whole (store.engine)
        if json:
            print_json({"backend": "sqlite", "from": None, "to": migrations.head(), "changed": True})
        else:
            typer.echo(f"created at revision {migrations.head()}")
        return
    engine = _engine(home)
    if path is not None:
        _sound(path)
    before, after = migrations.upgrade(engine)
    if json:
        print_json({"backend": engine.dialect.name, "from": before, "to": after, "changed": before != after})
    elif before is None:
        typer.echo(f"created at revision {after}")
    elif before == after:
        typer.echo(f"already at revision {after}")
    else:
        typer.echo(f"upgraded from revision {before} to {after}")


def check(full: Annotated[bool, typer.Option("--full", help="PRAGMA integrity_check (slower, thorough) instead of quick_check")] = False,
          json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Check the store file for damage (SQLite's quick_check; --full: integrity_check).

    Exit 0 when sound; otherwise the problems are listed and it exits 2.
    Example: `aetui db check --full`
    """
    from store import backup as backups
    from store.health import advice, check as problems_of

    h, path = _store(home)
    if path is None:
        raise UserError("`aetui db check` checks SQLite stores; PostgreSQL checks its own pages")
    if not path.exists():
        raise UserError(f"no store at {path}")
    problems = problems_of(path, full=full)
    kept = [str(b) for b in backups.backups(path)]
    if json:
        print_json({"path": str(path), "ok": not problems, "problems": problems, "backups": kept})
    elif not problems:
        typer.echo(f"{path}: ok ({'integrity_check' if full else 'quick_check'}); {len(kept)} backup(s) in "
                   f"{backups.folder(path)}")
    else:
        for line in problems:
            typer.echo(line)
    if problems:
        typer.echo(f"aetui: error: the store {path} is damaged: {advice(path)}", err=True)
        raise typer.Exit(2)


def backup(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Back up the store now (SQLite's online backup; safe while workers run).

    aetui also keeps one from before each schema upgrade and one a day; the newest 5 are kept.
    Example: `aetui db backup`
    """
    from store import backup as backups

    h, path = _store(home)
    if path is None:
        raise UserError("`aetui db backup` backs up SQLite stores; back up PostgreSQL with pg_dump")
    if not path.is_file():
        raise UserError(f"no store at {path}")
    _sound(path)
    made = backups.take(path, "manual")
    if made is None:
        raise UserError(f"could not write a backup into {backups.folder(path)}")
    if json:
        print_json({"backup": str(made)})
    else:
        typer.echo(f"backed up to {made}")


def restore(
    backup_file: Annotated[Optional[str], typer.Argument(metavar="[BACKUP]", help="the backup to restore [default: the newest sound one]", show_default=False)] = None,
    list_: Annotated[bool, typer.Option("--list", help="list the backups and exit")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Put a backup in the store's place (stop the workers first). The file it replaces is
    kept beside it as aetui.db.damaged-<time>. Jobs queued since the backup are not in it;
    their run folders stay, and new jobs are numbered above them.

    Examples: `aetui db restore --list` · `aetui db restore --yes`
    """
    from pathlib import Path

    from aetui.worker.registry import running_workers
    from store import backup as backups
    from store.health import check as problems_of

    h, path = _store(home)
    if path is None:
        raise UserError("`aetui db restore` restores SQLite stores; restore PostgreSQL with pg_restore")
    if list_:
        rows = [{"backup": str(b), "sound": not problems_of(b)} for b in backups.backups(path)]
        if json:
            print_json(rows)
        elif not rows:
            typer.echo(f"no backups in {backups.folder(path)}")
        else:
            for r in rows:
                typer.echo(f"{r['backup']}{'' if r['sound'] else '   (damaged)'}")
        return
    workers = running_workers(h)
    if workers:
        raise UserError(f"{len(workers)} worker(s) use this store (pid {workers[0].get('pid')}); stop them first")
    chosen = Path(backup_file).expanduser().resolve() if backup_file else None
    if chosen is None and not backups.backups(path):
        raise UserError(f"no backups in {backups.folder(path)}")
    if not yes and not typer.confirm(f"replace {path} with {'the newest sound backup' if chosen is None else chosen}?"):
        raise typer.Exit(1)
    try:
        used, kept = backups.restore(path, chosen)
    except ValueError as e:
        raise UserError(str(e)) from None
    if json:
        print_json({"restored": str(used), "replaced_kept_as": str(kept) if kept else None})
    else:
        typer.echo(f"restored {used}" + (f"; the replaced file is kept as {kept}" if kept else ""))
