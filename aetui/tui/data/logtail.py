"""Following a run's log files: the last lines first, then only the bytes appended."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from aetui import run_layout

FIRST_READ = 64 * 1024


@dataclass
class Tail:
    """Where we are in each file; `read()` returns the new complete lines."""

    paths: list[Path]
    offsets: dict[Path, int] = field(default_factory=dict)
    partial: dict[Path, str] = field(default_factory=dict)

    def read(self) -> list[str]:
        lines: list[str] = []
        for path in self.paths:
            lines += self._read_one(path)
        return lines

    def _read_one(self, path: Path) -> list[str]:
        try:
            size = os.stat(path).st_size
        except OSError:
            return []
        start = self.offsets.get(path)
        first = start is None
        if start is None:
            start = max(0, size - FIRST_READ)
        if size < start:  # truncated or replaced: start over
            start, first = max(0, size - FIRST_READ), True
            self.partial.pop(path, None)
        if size == start:
            self.offsets[path] = start
            return []
        with open(path, "rb") as f:
            f.seek(start)
            data = f.read(size - start)
        self.offsets[path] = size
        text = self.partial.pop(path, "") + data.decode("utf-8", "replace")
        parts = text.replace("\r\n", "\n").split("\n")
        if first and start > 0:
            parts = parts[1:]  # the first line was cut in the middle
        if parts and parts[-1] != "":
            self.partial[path] = parts[-1]
        parts = parts[:-1]
        # progress bars rewrite one line with \r: keep the last state of each line
        lines = [p.rsplit("\r", 1)[-1] for p in parts]
        if len(self.paths) > 1 and path.name != run_layout.STDOUT:
            lines = [f"[{path.stem}] {line}" for line in lines]
        return lines
