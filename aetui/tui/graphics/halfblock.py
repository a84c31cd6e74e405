"""Unicode half-block images: one cell shows two pixels, the upper one as the
foreground of '▀' and the lower one as its background. Works in every terminal with
true colour (and degrades to 256 colours where Rich has to)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

if TYPE_CHECKING:
    from PIL.Image import Image

UPPER_HALF = "\u2580"  # ▀


def fit(size: tuple[int, int], cols: int, rows: int, *, cell_aspect: float = 2.0) -> tuple[int, int]:
    """Pixel size (w, h) of `size` scaled to fit `cols` x `rows` cells, aspect kept.

    A cell is `cell_aspect` times as tall as wide; with half-blocks each cell holds
    1 x 2 pixels, so the pixel grid is cols x (rows * 2) with square-ish pixels.
    """
    w, h = size
    if w <= 0 or h <= 0 or cols <= 0 or rows <= 0:
        return 0, 0
    box_w, box_h = cols, rows * 2 * (2.0 / cell_aspect)
    scale = min(box_w / w, box_h / h)
    return max(1, min(cols, round(w * scale))), max(1, min(rows * 2, round(h * scale)))


def resize_for_cells(image: "Image", cols: int, rows: int) -> "Image":
    """The image in RGB, resized to fit the cells: nearest when enlarging (crisp pixels
    of small images), box filter when shrinking (grids stay readable)."""
    from PIL import Image as PILImage

    w, h = fit(image.size, cols, rows)
    rgb = image.convert("RGB")
    if (w, h) == rgb.size or w == 0:
        return rgb
    enlarge = w >= rgb.width and h >= rgb.height
    method = PILImage.Resampling.NEAREST if enlarge else PILImage.Resampling.BOX
    return rgb.resize((w, h), method)


def strips(image: "Image", cols: int, rows: int, *, background: tuple[int, int, int] | None = None) -> list[Strip]:
    """`rows` strips of `cols` cells showing the image centred, aspect kept."""
    small = resize_for_cells(image, cols, rows)
    w, h = small.size if cols > 0 and rows > 0 else (0, 0)
    pixels = small.load() if w else None
    blank_style = Style(bgcolor=Color.from_rgb(*background)) if background else Style()
    used_rows = (h + 1) // 2
    top_pad = (rows - used_rows) // 2
    left = (cols - w) // 2
    right = cols - w - left
    blank = Strip([Segment(" " * cols, blank_style)], cols)
    out: list[Strip] = []
    cache: dict[tuple, Style] = {}
    for row in range(rows):
        y = (row - top_pad) * 2
        if not (0 <= row - top_pad < used_rows):
            out.append(blank)
            continue
        segments: list[Segment] = []
        if left:
            segments.append(Segment(" " * left, blank_style))
        run_style: Style | None = None
        run_len = 0
        for x in range(w):
            top = pixels[x, y]
            bottom = pixels[x, y + 1] if y + 1 < h else None
            key = (top, bottom)
            style = cache.get(key)
            if style is None:
                bg = Color.from_rgb(*bottom) if bottom is not None else blank_style.bgcolor
                style = cache[key] = Style(color=Color.from_rgb(*top), bgcolor=bg)
            if style is run_style:
                run_len += 1
                continue
            if run_len:
                segments.append(Segment(UPPER_HALF * run_len, run_style))
            run_style, run_len = style, 1
        if run_len:
            segments.append(Segment(UPPER_HALF * run_len, run_style))
        if right:
            segments.append(Segment(" " * right, blank_style))
        out.append(Strip(segments, cols))
    return out
