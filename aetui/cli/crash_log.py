"""Where an unexpected exception goes: its traceback to a log file, one line to the user.

`<home>/logs/<timestamp>-<verb>.log`, or the temp folder's `aetui-logs/` when the home
cannot be written (a bad `--home` is one way to get here).
"""

from __future__ import annotations

import sys
import tempfile
import time
import traceback
from pathlib import Path


def write(error: BaseException, verb: str, home: str | None) -> Path:
    """Write `error`'s traceback (and the command line) to a new log file; its path."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = (f"aetui {verb}: {type(error).__name__}: {error}\n"
            f"command: {' '.join(sys.argv)}\n"
            f"time: {time.strftime('%Y-%m-%d %H:%M:%S %z')}\n\n"
            + "".join(traceback.format_exception(error)))
    for folder in _folders(home):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return _new_file(folder, f"{stamp}-{verb}", text)
        except OSError:
            continue
    raise OSError("no folder to write the log to")  # pragma: no cover  (the temp folder is writable)


def _folders(home: str | None):
    try:
        from aetui.home import Home

        yield Home.resolve(home).path / "logs"
    except Exception:  # an unusable home: the log still goes somewhere
        pass
    yield Path(tempfile.gettempdir()) / "aetui-logs"


def _new_file(folder: Path, stem: str, text: str) -> Path:
    """A file that did not exist: two failures in the same second get -2, -3, ..."""
    for n in range(1, 1000):
        path = folder / (f"{stem}.log" if n == 1 else f"{stem}-{n}.log")
        try:
            with path.open("x") as f:
                f.write(text)
            return path
        except FileExistsError:
            continue
    raise OSError(f"too many logs named {stem} in {folder}")
