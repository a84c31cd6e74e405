"""Line plots as PNG files: with matplotlib where it is installed, otherwise drawn with
PIL (matplotlib is not a dependency of aetui).

Used for a sweep's error-versus-level plot. The PIL drawing is deliberately plain:
axes, a light grid, one polyline with dot markers per series, a legend; the y axis may
be logarithmic (errors of a trained model and of its untrained control differ by
orders of magnitude).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

WIDTH, HEIGHT = 980, 500
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 84, 270, 44, 64  # the legend sits right of the axes
COLORS = ("#555555", "#1f5fbf", "#d03a2c", "#2a9d4b", "#9c5ad0", "#c7881a")


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float | None]  # None or a non-finite value: no point there
    dashed: bool = False


def line_plot(path: Path, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              log_y: bool = True) -> Path:
    """Write a line plot of `series` to `path` (PNG) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        _pil_plot(path, series, title=title, xlabel=xlabel, ylabel=ylabel, log_y=log_y)
    else:
        _mpl_plot(path, series, title=title, xlabel=xlabel, ylabel=ylabel, log_y=log_y)
    return path


def _points(s: Series, log_y: bool) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in zip(s.xs, s.ys)
            if y is not None and math.isfinite(y) and (y > 0 or not log_y)]


def _mpl_plot(path: Path, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              log_y: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(WIDTH / 100, HEIGHT / 100), dpi=100)
    for i, s in enumerate(series):
        pts = _points(s, log_y)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o--" if s.dashed else "o-",
                color=COLORS[i % len(COLORS)], label=s.label)
    if log_y:
        ax.set_yscale("log")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart)."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Decades inside [lo, hi]; with fewer than three, also 2x and 5x."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    ticks = [10.0 ** d for d in decades if lo <= 10.0 ** d <= hi]
    if len(ticks) < 3:
        ticks = sorted(m * 10.0 ** d for d in decades for m in (1, 2, 5) if lo <= m * 10.0 ** d <= hi)
    return ticks


def _fmt_tick(v: float) -> str:
    return f"{v:.0e}" if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4) else f"{v:.3g}"


def _pil_plot(path: Path, series: Sequence[Series], *, title: str, xlabel: str, ylabel: str,
              log_y: bool) -> None:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    small, big = _font(13), _font(16)
    pts = [_points(s, log_y) for s in series]
    xs = [p[0] for ps in pts for p in ps] or [0.0, 1.0]
    ys = [p[1] for ps in pts for p in ps] or [1.0]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    pad = (x_hi - x_lo) * 0.04
    x_lo, x_hi = x_lo - pad, x_hi + pad
    if log_y:
        y_lo, y_hi = math.log10(min(ys)), math.log10(max(ys))
        span = max(y_hi - y_lo, 0.5)
        y_lo, y_hi = y_lo - 0.08 * span, y_hi + 0.08 * span
        ticks = _log_ticks(10 ** y_lo, 10 ** y_hi)
        to_y = math.log10
    else:
        y_lo, y_hi = min(ys), max(ys)
        span = (y_hi - y_lo) or 1.0
        y_lo, y_hi = y_lo - 0.08 * span, y_hi + 0.08 * span
        ticks = _nice_ticks(y_lo, y_hi)
        to_y = float
    left, right, top, bottom = MARGIN_L, WIDTH - MARGIN_R, MARGIN_T, HEIGHT - MARGIN_B

    def px(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x_lo) / (x_hi - x_lo) * (right - left),
                bottom - (to_y(y) - y_lo) / (y_hi - y_lo) * (bottom - top))

    level_ticks = sorted(set(xs)) if len(set(xs)) <= 12 else _nice_ticks(min(xs), max(xs))
    for t in ticks:
        _, y = px(x_lo, t)
        draw.line([(left, y), (right, y)], fill="#e4e4e4")
        label = _fmt_tick(t)
        draw.text((left - 6 - draw.textlength(label, font=small), y - 7), label, fill="black", font=small)
    for t in level_ticks:
        x, _ = px(t, ticks[0] if ticks else 1.0)
        draw.line([(x, top), (x, bottom)], fill="#f0f0f0")
        label = _fmt_tick(t)
        draw.text((x - draw.textlength(label, font=small) / 2, bottom + 6), label, fill="black", font=small)
    draw.rectangle([left, top, right, bottom], outline="black")
    for i, (s, ps) in enumerate(zip(series, pts)):
        color = COLORS[i % len(COLORS)]
        coords = [px(x, y) for x, y in ps]
        if len(coords) > 1:
            if s.dashed:
                for a, b in zip(coords, coords[1:]):
                    _dashed(draw, a, b, color)
            else:
                draw.line(coords, fill=color, width=2)
        for x, y in coords:
            draw.ellipse([x - 3.5, y - 3.5, x + 3.5, y + 3.5], fill=color)
    draw.text(((WIDTH - draw.textlength(title, font=big)) / 2, 12), title, fill="black", font=big)
    draw.text(((left + right - draw.textlength(xlabel, font=small)) / 2, HEIGHT - 28), xlabel,
              fill="black", font=small)
    ylab = Image.new("RGB", (int(draw.textlength(ylabel, font=small)) + 4, 18), "white")
    ImageDraw.Draw(ylab).text((2, 1), ylabel, fill="black", font=small)
    ylab = ylab.rotate(90, expand=True)
    img.paste(ylab, (8, (top + bottom - ylab.height) // 2))
    _legend(draw, series, small, right + 16)
    img.save(path)


def _dashed(draw, a: tuple[float, float], b: tuple[float, float], color: str, dash: float = 7.0) -> None:
    length = math.dist(a, b)
    n = max(1, int(length // dash))
    for k in range(0, n, 2):
        t0, t1 = k / n, min(1.0, (k + 1) / n)
        draw.line([(a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                   (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)], fill=color, width=2)


def _legend(draw, series: Sequence[Series], font, x0: int) -> None:
    width = max(draw.textlength(s.label, font=font) for s in series) + 40 if series else 0
    y0 = MARGIN_T
    draw.rectangle([x0, y0, x0 + width, y0 + 20 * len(series) + 6], fill="white", outline="#999999")
    for i, s in enumerate(series):
        y = y0 + 13 + 20 * i
        color = COLORS[i % len(COLORS)]
        if s.dashed:
            _dashed(draw, (x0 + 6, y), (x0 + 28, y), color, dash=4.0)
        else:
            draw.line([(x0 + 6, y), (x0 + 28, y)], fill=color, width=2)
        draw.text((x0 + 34, y - 8), s.label, fill="black", font=font)
