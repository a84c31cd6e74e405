"""Is this `--home` (and `--runs-root`) usable? Checked before a verb writes anything.

A home that is a file, an empty string (which would put `aetui.db` in the current
folder), a read-only mount or a pseudo file system like `/proc/self` is refused with one
line, exit 2; so is a read verb (`show`, `cancel`, ...) on a home that does not exist, which
would otherwise create the folder and an empty store just to say "no job 3".

Writability is tried, not guessed from permission bits (`aetui.home.folder_problem`, the
probe the queue and the worker use too): root ignores them, and only the kernel knows that
a mount is read-only or that /proc takes no files. Nothing is left behind.
"""

from __future__ import annotations

from pathlib import Path

from aetui.defaults import LIMITS
from aetui.errors import UserError


def check_home(home: str | None, runs_root: str | None, *, needs: str | None, write: bool):
    """The resolved `Home`, or UserError naming what is wrong with it. `needs`: what a verb
    that only works on an existing store looks for there ("no job 3"), said when there is none."""
    from aetui import config
    from aetui.home import Home

    given = config.resolve("home", home)
    raw = given.value
    flag = {"flag": "--home", "default": "the home folder"}.get(given.source, f"home ({given.source})")
    if given.source.startswith("env "):
        flag = given.source[4:]
    if raw is not None:
        check_path_text(raw, flag)
    if runs_root is not None:
        check_path_text(runs_root, "--runs-root")
    try:
        h = Home.resolve(home, runs_root)
        _check_folder(h.path, flag if raw is not None else "the home folder", write=write)
        if needs is not None and not _has_store(h):
            raise UserError(f"{needs}: no aetui home at {h.path} (no store there yet; `aetui queue` makes one)")
        if h.runs_root is not None:
            _check_folder(h.runs_root, "--runs-root", write=write)
    except OSError as e:  # a path the system refuses to look at: too long, a loop of links, ...
        raise UserError(f"{flag} {raw}: {e.strerror or e}") from None
    return h


def check_path_text(text: str, flag: str) -> None:
    """What no path can be: empty, with a NUL, longer than the system takes."""
    if not text.strip():
        raise UserError(f"{flag} is empty: give a folder")
    if "\0" in text:
        raise UserError(f"{flag}: a NUL character cannot be part of a path")
    if len(text) > LIMITS["path_chars"] or any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in text.split("/")):
        raise UserError(f"{flag}: path too long ({len(text)} characters; at most {LIMITS['path_chars']}, "
                        "and 255 bytes a name)")


def _has_store(h) -> bool:
    from store.sqlite_read import sqlite_path

    path = sqlite_path(h.db_url)
    return path is None or path.is_file()  # None: a server (AETUI_DB), which exists elsewhere


def _check_folder(path: Path, flag: str, *, write: bool) -> None:
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path} is not a folder")
    if not write:
        return
    from aetui.home import folder_problem  # the same probe the queue and the worker use

    problem = folder_problem(path)
    if problem is not None:
        raise UserError(f"{flag} {path} cannot be written ({problem})")
