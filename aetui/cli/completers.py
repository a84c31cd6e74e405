"""What a shell's TAB offers for an argument's value: model and corruption names, your own
model files and what they define, statuses and job ids with their labels.

Each is an `autocompletion=` callback of a Typer parameter, `(ctx, incomplete) -> [(value,
help)]`; Typer keeps the values that start with `incomplete`. They run in the
completion process (`aetui.cli.completion`), so they import only light modules: the job
ids come straight from the SQLite file (`store.sqlite_read.job_choices`), never through
SQLAlchemy; the home is the one the command line names (`--home` before or after the
verb), else the usual one. Completing never creates a home or a store, and an error
offers nothing rather than printing into the user's prompt.
"""

# Annotations stay plain: Typer reads these callbacks' parameter types to pass them ctx and
# the incomplete word.

import os
from typing import Optional

import typer

# at most this many job ids are offered (newest first); typing more digits narrows them
MAX_JOB_CHOICES = 100
# at most this many files and folders are offered for a path; a file over this size is not read
MAX_PATH_CHOICES = 200
MAX_READ_BYTES = 1 << 20


def model_names(incomplete: str) -> list[tuple[str, str]]:
    """The built-in models; for a word that looks like a path, your own code (`code_refs`)."""
    if "/" in incomplete or incomplete.endswith(".py") or ".py:" in incomplete:
        return code_refs(incomplete)
    from aetui.models.catalog import MODEL_NAMES, RES_RANGE

    return [(name, f"res {RES_RANGE[name][0]}..{RES_RANGE[name][1]}") for name in MODEL_NAMES]


def code_refs(incomplete: str) -> list[tuple[str, str]]:
    """`PATH.py:NAME` as it is typed: folders and `.py` files under the path so far, then,
    after `FILE.py` or `FILE.py:`, the classes and functions FILE defines at its top level
    (read with `ast`, never imported). A path that leads to one file only offers its names
    at once. Nothing here is expanded but `~`; an unreadable folder or file offers nothing."""
    file, colon, name = incomplete.rpartition(":")
    if colon and file.endswith(".py"):
        return _defined_in(file, name)
    if incomplete.endswith(".py") and os.path.isfile(os.path.expanduser(incomplete)):
        return _defined_in(incomplete, "")
    head, slash, stem = incomplete.rpartition("/")
    folder = os.path.expanduser(head + slash) if slash else "."
    prefix = head + slash
    out = []
    try:
        with os.scandir(folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                if not entry.name.startswith(stem) or (entry.name.startswith(".") and not stem.startswith(".")):
                    continue
                if entry.is_dir() and entry.name != "__pycache__":
                    out.append((f"{prefix}{entry.name}/", "folder"))
                elif entry.name.endswith(".py") and entry.is_file():
                    out.append((f"{prefix}{entry.name}", ""))
                if len(out) == MAX_PATH_CHOICES:
                    break
    except OSError:
        return []
    if len(out) == 1 and out[0][0].endswith(".py"):  # the only file: go on to its names
        return _defined_in(out[0][0], "") or out
    return out


def _defined_in(file: str, name: str) -> list[tuple[str, str]]:
    """`FILE:NAME` for each top-level class and function of FILE (private ones only when
    `name` starts with `_`), with its docstring's first line or what it is."""
    import ast

    path = os.path.expanduser(file)
    try:
        if os.path.getsize(path) > MAX_READ_BYTES:
            return []
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return []
    out = []
    for node in tree.body:
        if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if node.name.startswith("_") and not name.startswith("_"):
            continue
        doc = (ast.get_docstring(node) or "").strip().splitlines()
        out.append((f"{file}:{node.name}", doc[0] if doc else "class" if isinstance(node, ast.ClassDef) else "function"))
    return out


def corruption_names(incomplete: str) -> list[tuple[str, str]]:
    from aetui.corruptions import CORRUPTIONS

    return [(name, info.help) for name, info in CORRUPTIONS.items()]


def statuses(incomplete: str) -> list[str]:
    from store.states import STATUSES

    return [str(s) for s in STATUSES]


def job_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """Any job; for `cancel` and `wait`, only those still queued or running."""
    from store.states import ACTIVE

    wanted = tuple(str(s) for s in ACTIVE) if ctx.info_name in ("cancel", "wait") else ()
    return _jobs(ctx, incomplete, statuses=wanted)


def trained_job_ids(ctx: typer.Context, incomplete: str) -> list[tuple[str, str]]:
    """The finished training runs an experiment (sweep, walk, probe) can run on. A value that
    is not a number is a checkpoint path: nothing is offered, and the shell completes files."""
    from store.states import JobStatus

    return _jobs(ctx, incomplete, statuses=(str(JobStatus.DONE),), kind="train")


def _jobs(ctx: typer.Context, incomplete: str, *, statuses: tuple[str, ...] = (),
          kind: Optional[str] = None) -> list[tuple[str, str]]:
    if incomplete and not (incomplete.isascii() and incomplete.isdigit()):
        return []
    try:
        rows = _job_rows(_home(ctx), incomplete, statuses, kind)
    except Exception:  # a store it cannot read: offer nothing, print nothing
        return []
    return [(str(job_id), f"{label} · {status}" if label else str(status)) for job_id, label, status in rows]


def _job_rows(home, prefix: str, statuses: tuple[str, ...], kind: Optional[str]) -> list[tuple[int, str, str]]:
    from store.sqlite_read import job_choices, sqlite_path

    rows = job_choices(home.db_url, prefix=prefix, statuses=statuses, kind=kind, limit=MAX_JOB_CHOICES)
    if rows is not None:
        return rows
    if sqlite_path(home.db_url) is not None:  # an SQLite store at another schema: opening it would upgrade it
        return []
    # another backend (PostgreSQL): the slow way, through SQLAlchemy
    from store import open_db, queries

    jobs = [j for j in queries.list_jobs(open_db(home.db_url), kind=kind)
            if str(j.id).startswith(prefix) and (not statuses or str(j.status) in statuses)]
    return [(j.id, j.label or "", str(j.status)) for j in jobs[:MAX_JOB_CHOICES]]


def _home(ctx: typer.Context):
    """The home the command line names: the verb's `--home`, else the one before the verb,
    else $AETUI_HOME or the default (`aetui.home.Home.resolve`)."""
    from aetui.home import Home

    given = None
    while ctx is not None and given is None:
        given = ctx.params.get("home")
        ctx = ctx.parent
    return Home.resolve(given)
