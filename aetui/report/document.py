"""A report as plain data: sections of tables, pictures and text, which the HTML and
Markdown writers render. Values are kept as they are (numbers stay numbers) until a
writer formats them with `cell`, so both formats print the store's numbers alike."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Union

MARK = "aetui report"  # in every report's first lines: a file that has it may be replaced by a new one


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Picture:
    """An image file's bytes, shown at full resolution. `row_labels`: one label per row of
    the grid, top to bottom (only when the picture's rows are known to match)."""

    name: str  # a file name for the Markdown format's image folder (unique in the report)
    data: bytes
    mime: str
    caption: str = ""
    row_labels: tuple[str, ...] = ()
    size: tuple[int, int] = (0, 0)  # pixels (width, height)


Block = Union[Text, Table, Picture]


@dataclass
class Section:
    title: str
    anchor: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


def cell(value: Any) -> str:
    """How a table cell prints: floats with 6 significant digits, lists joined."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(cell(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    return str(value)
