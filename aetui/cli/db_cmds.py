"""`aetui db`: the store's schema (status, upgrade).

SQLite upgrades itself when opened; a PostgreSQL store shared by several machines is
upgraded here, once, after aetui was updated on every machine that uses it.
"""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

import typer

from aetui.cli.options import HomeOpt, JsonOpt, home_of, print_json, user_errors

db_app = typer.Typer(help="The store's schema: `aetui db status`, `aetui db upgrade`.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    for fn in (status, upgrade):
        db_app.command(name=fn.__name__)(user_errors(fn))
    app.add_typer(db_app, name="db")


def _engine(home: str | None):
    from store.engine import make_engine

    h = home_of(home)
    h.path.mkdir(parents=True, exist_ok=True)
    return make_engine(h.db_url)


def status(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """The database, its schema revision and the revisions an upgrade would apply.

    Example: `AETUI_DB=postgresql://lab@dbhost/aetui aetui db status`
    """
    from store import migrations

    engine = _engine(home)
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

    engine = _engine(home)
    before, after = migrations.upgrade(engine)
    if json:
        print_json({"backend": engine.dialect.name, "from": before, "to": after, "changed": before != after})
    elif before is None:
        typer.echo(f"created at revision {after}")
    elif before == after:
        typer.echo(f"already at revision {after}")
    else:
        typer.echo(f"upgraded from revision {before} to {after}")
