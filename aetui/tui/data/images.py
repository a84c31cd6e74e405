"""Decoding pictures off disk (PIL), with a small cache keyed by path and mtime, so
stepping back and forth through grids or playing a walk decodes each file once."""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

CACHE_SIZE = 256
_cache: "OrderedDict[tuple[str, float], Image]" = OrderedDict()
_lock = threading.Lock()


def load(path: str | Path) -> "Image | None":
    """The picture at `path` as RGB, or None when it cannot be read (yet)."""
    from PIL import Image as PILImage

    p = Path(path)
    try:
        key = (str(p), p.stat().st_mtime)
    except OSError:
        return None
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        with PILImage.open(p) as im:
            im.seek(0)
            rgb = im.convert("RGB")
            rgb.load()
    except (OSError, ValueError, SyntaxError):
        return None
    with _lock:
        _cache[key] = rgb
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return rgb


def png_bytes(image: "Image") -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
