"""Decoding pictures (PIL), off disk or from the bytes a result picture holds (one read
from TensorBoard events), with a small cache keyed by path and mtime (or by the bytes),
so stepping back and forth through grids or playing a walk decodes each picture once."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

    from aetui.tui.data.results import Picture

CACHE_SIZE = 256
_cache: "OrderedDict[tuple, Image]" = OrderedDict()
_lock = threading.Lock()


def name_of(source: "str | Path | Picture") -> str:
    """How a picture is named to the user (in "cannot read ...")."""
    return source.title if hasattr(source, "data") else Path(source).name


def load(source: "str | Path | Picture") -> "Image | None":
    """The picture at a path, or a result picture's bytes (`Picture.source`), as RGB; None
    when it cannot be read (yet)."""
    from PIL import Image as PILImage

    data = getattr(source, "data", None)
    if data is not None:
        key: tuple = ("bytes", data)  # exact: equal bytes, the same picture
        opened: "Path | io.BytesIO" = io.BytesIO(data)
    else:
        p = Path(source)
        try:
            key = (str(p), p.stat().st_mtime)
        except OSError:
            return None
        opened = p
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        with PILImage.open(opened) as im:
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
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
