"""User data: a folder of image files (``folder:PATH``) or a uint8 array (``npy:PATH``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .sources import iter_image_files

_RESIZE_CHUNK = 256  # images resized at a time, to bound the float32 working memory
# What Pillow raises for a file it cannot decode: not an image, truncated, a bad
# chunk (some plugins use SyntaxError), or too large to be safe.
_UNREADABLE = (OSError, ValueError, SyntaxError, Image.DecompressionBombError)


def fit_square(images: torch.Tensor, res: int) -> torch.Tensor:
    """Center-crop uint8 ``(N, C, H, W)`` to a square and resize it to ``res`` (antialiased)."""
    h, w = images.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    images = images[..., top:top + side, left:left + side]
    if side == res:
        return images.contiguous()
    out = torch.empty((*images.shape[:2], res, res), dtype=torch.uint8)
    for start in range(0, len(images), _RESIZE_CHUNK):
        part = images[start:start + _RESIZE_CHUNK].float()
        part = F.interpolate(part, size=(res, res), mode="bicubic", antialias=True,
                             align_corners=False)
        out[start:start + _RESIZE_CHUNK] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _read_image(path: Path, res: int) -> np.ndarray:
    """One file as uint8 ``(res, res, 3)``: RGB, upright, center-cropped, resized."""
    with Image.open(path) as im:
        im.draft("RGB", (res, res))  # JPEG: decode at a reduced scale when that suffices
        im = ImageOps.exif_transpose(im).convert("RGB")
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        im = im.crop((left, top, left + side, top + side))
        if side != res:
            im = im.resize((res, res), Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8)


def load_folder(path: Path, res: int) -> tuple[torch.Tensor, int]:
    """Every readable image under ``path`` as uint8 ``(N, 3, res, res)``, and how many were skipped.

    Files are taken in sorted path order, so the result does not depend on the file system.
    """
    images, skipped = [], 0
    for file in sorted(iter_image_files(path)):
        try:
            images.append(_read_image(file, res))
        except _UNREADABLE:
            skipped += 1
    if not images:
        raise ValueError(f"no readable images in {path} ({skipped} skipped)")
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), skipped


def load_npy(path: Path, res: int) -> torch.Tensor:
    """A uint8 ``(N, H, W, C)`` array, C = 3 or 1 (grey, repeated), as ``(N, 3, res, res)``.

    The layout is read as written: no mirroring or rotation (the seed code's loader
    mirrored the images as a side effect of its permute/rot90 sequence).
    """
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[-1] not in (1, 3):
        raise ValueError(f"{path} holds {array.dtype} {tuple(array.shape)}; expected uint8 "
                         "N x H x W x C with C = 3 or 1")
    if len(array) == 0:
        raise ValueError(f"{path} holds no images")
    images = torch.from_numpy(array).permute(0, 3, 1, 2)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return fit_square(images, res)
