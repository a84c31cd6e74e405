"""Reports you can send: the settings, numbers, curves and pictures of some jobs in one
self-contained HTML file, or a Markdown file with a folder of pictures.

`content.py` reads the jobs into a `document.Document`; `html.py` and `markdown.py`
render it; `write_report` writes it atomically (a temporary file renamed into place), so a
bad job id or a failure half way leaves nothing behind. Used by `aetui report` and the
dashboard's report key. No torch; matplotlib only when a curve is drawn.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from aetui.errors import UserError
from aetui.report.document import MARK

FORMATS = ("html", "md")
REPORTS = "reports"  # the dashboard writes its reports into <home>/reports/


def format_of(out: Path, fmt: str | None) -> str:
    """The format asked for, else the one `out`'s suffix names (.md), else HTML."""
    if fmt is None:
        return "md" if out.suffix.lower() in (".md", ".markdown") else "html"
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt}: html or md")
    return fmt


def default_path(home: Any, job_ids: list[int], fmt: str = "html") -> Path:
    """Where the dashboard writes a report: <home>/reports/report-<ids>-<time>.<fmt>."""
    ids = "-".join(str(i) for i in job_ids[:6]) + ("-etc" if len(job_ids) > 6 else "")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(home.path) / REPORTS / f"report-{ids}-{stamp}.{fmt}"


def files_folder(out: Path) -> Path:
    """The pictures folder of a Markdown report: `notes.md` -> `notes_files/`."""
    return out.with_name(out.stem + "_files")


HEAD = 512  # the mark is in a report's first bytes


def check_out(out: Path, fmt: str = "html") -> None:
    """Refuse (UserError) an `--out` that cannot be written, or that would replace a file (or
    a Markdown report's pictures folder) that is not an earlier report's: a typo must not
    replace someone's data."""
    text = str(out)
    if "\0" in text:
        raise UserError("--out: not a usable path (a NUL byte)")
    try:
        if out.is_dir():
            raise UserError(f"--out {out} is a folder: give a file name, e.g. {out / 'report.html'}")
        if not out.parent.is_dir():
            raise UserError(f"--out {out}: the folder {out.parent} does not exist")
        ours = _is_report(out)
        if (out.exists() or out.is_symlink()) and not ours:
            raise UserError(f"--out {out} exists and is not an aetui report: not replaced "
                            "(remove it or choose another name)")
        folder = files_folder(out)
        if fmt == "md" and (folder.exists() or folder.is_symlink()) and not ours:
            raise UserError(f"--out {out}: {folder} exists and is not an earlier report's pictures: not replaced "
                            "(remove it or choose another name)")
    except OSError as e:
        raise UserError(f"--out {out}: {e.strerror or e}") from None
    if not os.access(out.parent, os.W_OK):
        raise UserError(f"--out {out}: the folder {out.parent} is not writable")


def _is_report(path: Path) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    with open(path, "rb") as f:
        return MARK in f.read(HEAD).decode("utf-8", "replace")


def write_report(home: Any, job_ids: Iterable[int], out: str | Path, *, fmt: str | None = None,
                 make_folder: bool = False) -> Path:
    """Write the report of `job_ids` to `out` and return its path. UserError (nothing
    written) for an id that is no job or an unusable `out`. `make_folder`: create `out`'s
    folder (the dashboard's reports folder) rather than refuse a missing one."""
    from aetui.report.content import build

    out = Path(out).expanduser().absolute()
    kind = format_of(out, fmt)
    if make_folder:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot make the folder {out.parent}: {e.strerror or e}") from None
    check_out(out, kind)
    doc = build(home, job_ids)  # UserError for a bad id: before anything is written
    try:
        if kind == "html":
            from aetui.report.html import render

            _atomic_write(out, render(doc).encode("utf-8"))
            return out
        from aetui.report.markdown import render as render_md

        folder = files_folder(out)
        text, files = render_md(doc, folder.name)
        _write_with_folder(out, text.encode("utf-8"), folder, files)
    except OSError as e:  # a name too long, a full disk, a read-only mount: nothing is left behind
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_with_folder(path: Path, text: bytes, folder: Path, files: dict[str, bytes]) -> None:
    """The pictures into a fresh folder first, then that folder and the text into place;
    an older report's folder of the same name is replaced."""
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=path.parent))
    old = None
    try:
        for name, data in files.items():
            (staging / name).write_bytes(data)
        os.chmod(staging, 0o755)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old.{os.getpid()}")
            os.replace(folder, old)
        os.replace(staging, folder)
        _atomic_write(path, text)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
