"""Loss curves drawn with braille dots (2 x 4 per cell), one colour per run, log scale
by default: a terminal stand-in for TensorBoard's scalar plot, overlays included."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from aetui.tui import format as fmt

PALETTE = ("#4fc3f7", "#ffb74d", "#81c784", "#e57373", "#ba68c8", "#fff176", "#a1887f", "#90a4ae")
_DOTS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][col] bit of a braille cell
AXIS_W = 9  # the narrowest y axis: its labels and ' ┤'; wider labels widen it


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple[tuple[float, float], ...]
    color: str


def series(name: str, points: list[tuple[int, float]], index: int) -> Series:
    clean = tuple((float(x), float(y)) for x, y in points if y is not None and math.isfinite(y))
    return Series(name, clean, PALETTE[index % len(PALETTE)])


class LossPlot(Widget):
    """Plots `series` (set with `set_series`); `l` toggles the log scale.

    The axes are named by `set_axes` (a loss against steps by default; a sweep's ratio
    against noise levels...): the y axis's name heads the plot, with `(log)` while its
    scale is logarithmic, and the x axis's name sits under it."""

    log_y: reactive[bool] = reactive(True)
    empty_text: reactive[str] = reactive("no loss points yet")

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._series: tuple[Series, ...] = ()
        self._cache: tuple[tuple, list[Strip]] | None = None
        self.x_label, self.y_label = "step", "loss"

    def set_axes(self, x_label: str, y_label: str) -> None:
        if (x_label, y_label) != (self.x_label, self.y_label):
            self.x_label, self.y_label = x_label, y_label
            self._cache = None
            self.refresh()

    def set_series(self, items: list[Series]) -> None:
        items = tuple(items)
        if items != self._series:
            self._series = items
            self._cache = None
            self.refresh()

    @property
    def series(self) -> tuple[Series, ...]:
        return self._series

    def watch_log_y(self) -> None:
        self._cache = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        key = (width, height, self.log_y)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._draw(width, height))
        lines = self._cache[1]
        return lines[y] if y < len(lines) else Strip.blank(width, self.rich_style)

    def _draw(self, width: int, height: int) -> list[Strip]:
        base = self.rich_style
        dim = base + Style(dim=True)
        blank = Strip.blank(width, base)
        pts = [s for s in self._series if s.points]
        if not pts or width < AXIS_W + 4 or height < 3:
            msg = self.empty_text if not pts else "too small"
            return [Strip([Segment(fmt.fit(msg.center(width), width), dim)], width) if y == height // 2 else blank
                    for y in range(height)]
        legend = len(self._series) > 1
        log = self.log_y and all(y > 0 for s in pts for _, y in s.points)
        y_title = self.y_label + (" (log)" if log else "")
        titled = height - 1 - (1 if legend else 0) >= 4  # room for the y axis's name on top
        plot_h = height - 1 - (1 if legend else 0) - (1 if titled else 0)
        ty = (lambda v: math.log10(v)) if log else (lambda v: v)
        xs = [x for s in pts for x, _ in s.points]
        ys = [ty(y) for s in pts for _, y in s.points]
        x0, x1 = min(xs), max(xs)
        y0, y1 = min(ys), max(ys)
        if y1 - y0 < 1e-12:
            y0, y1 = y0 - 0.5, y1 + 0.5
        if x1 == x0:
            x1 = x0 + 1

        def label(v: float) -> str:
            return fmt.num(10 ** v if log else v, 3)

        ticks = {0: label(y1), plot_h - 1: label(y0)}
        if plot_h >= 5:
            ticks[(plot_h - 1) // 2] = label((y0 + y1) / 2)
        # the axis is as wide as its widest label: a cut number would be a wrong number
        axis_w = max(AXIS_W, *(len(t) + 2 for t in ticks.values()))
        plot_w = width - axis_w
        if plot_w < 4:
            return [Strip([Segment(fmt.fit("too small".center(width), width), dim)], width) if y == height // 2
                    else blank for y in range(height)]
        dots_w, dots_h = plot_w * 2, plot_h * 4
        cells: dict[tuple[int, int], int] = {}
        colour: dict[tuple[int, int], str] = {}

        def dot(dx: int, dy: int, color: str) -> None:
            if 0 <= dx < dots_w and 0 <= dy < dots_h:
                cell = (dy // 4, dx // 2)
                cells[cell] = cells.get(cell, 0) | _DOTS[dy % 4][dx % 2]
                colour[cell] = color

        for s in pts:
            prev = None
            for x, yv in s.points:
                dx = round((x - x0) / (x1 - x0) * (dots_w - 1))
                dy = round((y1 - ty(yv)) / (y1 - y0) * (dots_h - 1))
                if prev is None:
                    dot(dx, dy, s.color)
                else:
                    for px, py in _line(prev[0], prev[1], dx, dy):
                        dot(px, py, s.color)
                prev = (dx, dy)

        lines: list[Strip] = []
        if titled:
            lines.append(Strip([Segment(fmt.fit(y_title, width), dim)], width))
        for row in range(plot_h):
            tick = ticks.get(row)
            axis = (tick.rjust(axis_w - 2) + " ┤") if tick is not None else " " * (axis_w - 1) + "│"
            segs = [Segment(axis, dim)]
            run_style, run = None, []
            for col in range(plot_w):
                bits = cells.get((row, col), 0)
                ch = chr(0x2800 + bits) if bits else " "
                style = base + Style(color=colour[(row, col)]) if bits else base
                if style != run_style and run:
                    segs.append(Segment("".join(run), run_style))
                    run = []
                run_style = style
                run.append(ch)
            if run:
                segs.append(Segment("".join(run), run_style))
            lines.append(Strip(segs, width))
        left, right = fmt.num(x0, 6), fmt.num(x1, 6)
        middle = self.x_label if titled else f"{self.x_label} · {y_title}"
        gap = plot_w - len(left) - len(right)
        axis_text = " " * (axis_w - 1) + "└" + left + middle.center(max(0, gap)) + right if gap > len(middle) else \
            " " * (axis_w - 1) + "└" + left.ljust(plot_w - len(right)) + right
        lines.append(Strip([Segment(fmt.fit(axis_text, width), dim)], width))
        if legend:
            segs = [Segment(" " * axis_w, base)]
            used = axis_w
            for s in self._series:
                text = f"━ {s.name}  "
                if used + len(text) > width:
                    break
                segs.append(Segment(text, base + Style(color=s.color)))
                used += len(text)
            segs.append(Segment(" " * (width - used), base))
            lines.append(Strip(segs, width))
        return lines


def _line(x0: int, y0: int, x1: int, y1: int):
    """Bresenham's line from (x0, y0) to (x1, y1), end points included."""
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
    err = dx + dy
    while True:
        yield x0, y0
        if x0 == x1 and y0 == y1:
            return
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy
