"""Words on result pictures, so that a PNG says what it shows without the code that made it:
row labels left of an image grid (input / output, clean / corrupted / output), column
labels above it (a filmstrip's walk steps) and a title band on top (a sweep level's noise,
a walk frame's step).

Grids are those of `aetui.experiments.tensorboard.image_grid`: (3, H, W) floats in [0, 1],
tiles of equal size with a 1-pixel white border. The labelled picture is a new tensor of
the same kind (white bands added), so TensorBoard, the PNG files and the GIF show the same.
"""

from __future__ import annotations

from typing import Sequence

PAD = 4  # pixels around a label
MIN_FONT, MAX_FONT = 10, 18


def labelled(grid, *, rows: Sequence[str] = (), cols: Sequence[str] = (), title: str = ""):
    """`grid` with `rows` written left of its rows, `cols` above its columns and `title` above
    all (each optional). A label sits at the middle of its row or column."""
    import numpy as np
    import torch
    from PIL import Image, ImageDraw

    _, h, w = grid.shape
    tile_h = (h - 1) / max(len(rows), 1) if rows else h
    font = _font(int(min(MAX_FONT, max(MIN_FONT, tile_h * 0.3))) if rows else 12)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_h = _text_height(scratch, font)
    left = int(max((scratch.textlength(r, font=font) for r in rows), default=0)) + 2 * PAD if rows else 0
    title_h = text_h + 2 * PAD if title else 0
    cols_h = text_h + 2 * PAD if cols else 0
    top = title_h + cols_h
    width = max(left + w, int(scratch.textlength(title, font=font)) + 2 * PAD if title else 0)
    canvas = Image.new("RGB", (width, top + h), "white")
    arr = (grid.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    canvas.paste(Image.fromarray(arr), (left, top))
    draw = ImageDraw.Draw(canvas)
    if title:
        length = scratch.textlength(title, font=font)  # centred over the images, inside the picture
        draw.text((min(max(PAD, left + (w - length) / 2), width - PAD - length), PAD), title, fill="black", font=font)
    for i, text in enumerate(rows):
        centre = top + 1 + i * tile_h + (tile_h - 1) / 2
        draw.text((left - PAD - scratch.textlength(text, font=font), centre - text_h / 2), text, fill="black", font=font)
    tile_w = (w - 1) / max(len(cols), 1)
    for j, text in enumerate(cols):
        centre = left + 1 + j * tile_w + (tile_w - 1) / 2
        draw.text((centre - scratch.textlength(text, font=font) / 2, title_h + PAD), text, fill="black", font=font)
    out = np.asarray(canvas, dtype=np.float32) / 255.0
    return torch.from_numpy(out.copy()).permute(2, 0, 1)


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: a fixed bitmap font
        return ImageFont.load_default()


def _text_height(draw, font) -> int:
    box = draw.textbbox((0, 0), "Ag0", font=font)
    return int(box[3])
