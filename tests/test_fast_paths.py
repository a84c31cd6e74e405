"""The shortcuts that keep aetui fast give the same answers as the long way round."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT, cli_env


def test_importing_store_does_not_import_sqlmodel():
    code = ("import sys, store, store.states, store.sqlite_read; "
            "sys.exit(1 if 'sqlmodel' in sys.modules or 'sqlalchemy' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_light_job_listing_matches_the_store_queries(tmp_path):
    from aetui.home import Home
    from aetui.jobs import job_summary
    from store import queries, queue
    from store.sqlite_read import list_jobs

    home = Home.resolve(tmp_path / "home")
    assert list_jobs(home.db_url) == []  # no store yet: nothing, and nothing created
    assert not (tmp_path / "home" / "aetui.db").exists()
    rows = [{"kind": "train", "spec": {"model": m, "res": 32}, "label": f"{m} #{i}", "total_steps": 10}
            for i, m in enumerate(["unet", "mlp", "unet", "attn-unet", "mlp"])]
    queue.enqueue_many(home.db, rows, run_root=str(home.runs))
    queue.claim(home.db, worker="h:1", host="h", pid=1, device="cpu")
    queue.cancel(home.db, job_id=3)
    queue.progress(home.db, job_id=1, step=4, loss=0.25, images_per_s=12.5)
    for filters in ({}, {"status": "queued"}, {"status": "running"}, {"kind": "train", "limit": 2}, {"limit": 1}):
        fast = list_jobs(home.db_url, **filters)
        slow = queries.list_jobs(home.db, **filters)
        assert [job_summary(j) for j in fast] == [job_summary(j) for j in slow], filters
    (job,) = list_jobs(home.db_url, status="running")
    assert job.spec == {"model": "unet", "res": 32} and job.cancel_requested is False
    assert list_jobs("postgresql://u@h/db") is None  # not SQLite: the caller asks store.queries


def test_the_schema_head_is_found_without_alembic():
    from store import migrations

    assert migrations._quick_head(migrations.LOCATION) == migrations.head()


def test_cli_commands_have_no_string_annotations():
    """Typer compiles and evaluates string annotations of every command on each start (~50 ms)."""
    import inspect
    from importlib import import_module

    import typer

    from aetui.cli import app
    from aetui.cli.verbs import VERBS

    def callbacks(ty):
        for info in ty.registered_commands:
            yield info.callback
        for group in ty.registered_groups:
            yield from callbacks(group.typer_instance)
        if ty.registered_callback:
            yield ty.registered_callback.callback

    apps = [app]
    for module in {verb.module for verb in VERBS.values()}:  # each as `LazyVerbs` registers it
        apps.append(typer.Typer())
        import_module(f"aetui.cli.{module}").register(apps[-1])
    found = [fn for ty in apps for fn in callbacks(ty)]
    assert len(found) > len(VERBS), found
    stringy = [fn.__qualname__ for fn in found
               if any(isinstance(a, str) for a in inspect.unwrap(fn).__annotations__.values())]
    assert not stringy, f"string annotations (a `from __future__ import annotations`?) in {stringy}"


def test_help_lists_every_verb_without_importing_its_module(tmp_path):
    """`aetui --help` lists the verbs from `aetui.cli.verbs` (every one, with its summary) and
    imports none of their modules; `aetui queue --help` imports only the module of `queue`."""
    from aetui.cli.verbs import VERBS

    modules = sorted({f"aetui.cli.{verb.module}" for verb in VERBS.values()})
    code = ("import sys, runpy; sys.argv = ['aetui', *sys.argv[1:]]; code = 0\n"
            "try:\n    runpy.run_module('aetui', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
            f"print('IMPORTED', sorted(m for m in {modules!r} if m in sys.modules))\n")
    env = {**cli_env(tmp_path / "home"), "COLUMNS": "200"}

    def run(*args):
        out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout

    listing = run("--help")
    assert listing.rstrip().endswith("IMPORTED []"), listing
    for name, verb in VERBS.items():
        assert (f"  {name} " in listing and verb.summary in listing) != verb.hidden, name
    assert run("queue", "--help").rstrip().endswith("IMPORTED ['aetui.cli.jobs_cmds']")


def test_every_registered_verb_is_in_the_table_and_every_entry_is_registered():
    """A verb missing from `VERBS` could never be reached; an entry no module registers is a dead line."""
    from aetui.cli.verbs import VERBS, all_commands

    commands = all_commands()
    assert set(commands) == set(VERBS)
    for name, command in commands.items():
        assert command.short_help == VERBS[name].summary and command.hidden == VERBS[name].hidden, name


def test_help_reads_no_config(tmp_path):
    """`aetui --help` neither reads the file (a broken one does not matter) nor imports tomllib."""
    bad = tmp_path / "bad.toml"
    bad.write_text("this is not toml = = =\n")
    code = ("import sys, runpy; sys.argv = ['aetui', '--help']; code = 0\n"
            "try:\n    runpy.run_module('aetui', run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
            "print('IMPORTED', sorted(m for m in ('tomllib', 'tomli', 'aetui.config') if m in sys.modules))\n"
            "sys.exit(code)")
    env = {**cli_env(tmp_path / "home"), "AETUI_CONFIG": str(bad)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "IMPORTED []" in out.stdout, out.stdout + out.stderr
