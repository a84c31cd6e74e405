"""Line plots as PNG images, drawn with matplotlib: one plotting path for the sweep's
error-versus-level plot (written by the runner) and the curves of a report.

matplotlib is imported inside the functions, with the Agg backend (no display, no GUI
toolkit): importing this module costs nothing, so the CLI and the dashboard may import it.
The y axis may be logarithmic (errors of a trained model and of its untrained control
differ by orders of magnitude); points that cannot be drawn there (None, non-finite, or
not positive on a log axis) are left out.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

WIDTH, HEIGHT, DPI = 980, 500, 100
COLORS = ("#555555", "#1f5fbf", "#d03a2c", "#2a9d4b", "#9c5ad0", "#c7881a")


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]  # None or a non-finite value: no point there
    dashed: bool = False
    markers: bool = True  # dots at the points (a long training curve draws a plain line)


def line_plot(path: Path, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              log_y: bool = True) -> Path:
    """Write a line plot of `series` to `path` (PNG) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(line_plot_png(series, title=title, xlabel=xlabel, ylabel=ylabel, log_y=log_y))
    return path


def _points(s: Series, log_y: bool) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in zip(s.xs, s.ys)
            if y is not None and math.isfinite(y) and (y > 0 or not log_y)]


def line_plot_png(series: Sequence[Series], *, title: str, xlabel: str, ylabel: str, log_y: bool = True,
                  size: tuple[int, int] = (WIDTH, HEIGHT)) -> bytes:
    """The PNG bytes of a line plot of `series` (`size` in pixels)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    # a Figure of its own, not pyplot's global state: reports are drawn from the
    # dashboard's thread workers too
    fig = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI)
    ax = fig.subplots()
    drawn = False
    for i, s in enumerate(series):
        pts = _points(s, log_y)
        if not pts:
            continue
        style = ("o" if s.markers else "") + ("--" if s.dashed else "-")
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=COLORS[i % len(COLORS)], label=s.label,
                markersize=4)
        drawn = True
    if log_y and drawn:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend()
    # fixed margins: tight_layout draws the figure once more to measure it (half the time)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.92, bottom=0.12)
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()
