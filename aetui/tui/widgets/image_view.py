"""A picture in the terminal, drawn the way the app chose (`App.graphics`).

Half-blocks are ordinary styled cells (Segments with fg = upper pixel, bg = lower
pixel), so they survive tmux, SSH and snapshots. Kitty and sixel images are escape
sequences written to the terminal after Textual painted the widget's (blank) cells at
the same place; they are emitted only when that mode was chosen.
Decoding runs in a thread worker; the widget only draws.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from aetui.tui.graphics import halfblock

if TYPE_CHECKING:
    from PIL.Image import Image

    from aetui.tui.data.results import Picture

_next_id = 1


def _new_image_id() -> int:
    global _next_id
    _next_id += 1
    return _next_id


class ImageView(Widget):
    """Shows `path` (or an image given with `show`), scaled into the widget, aspect kept.
    `path` is a file, or a result picture that holds its bytes (`Picture.source`)."""

    path: reactive["Path | Picture | None"] = reactive(None)
    placeholder: reactive[str] = reactive("no image")

    class Decoded(Message):
        def __init__(self, path: "Path | Picture", image: "Image | None") -> None:
            super().__init__()
            self.path, self.image = path, image

    def __init__(self, path: Path | None = None, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._image: "Image | None" = None
        self._image_path: "Path | Picture | None" = None  # the file (or picture) the shown image came from
        self._strips: tuple[tuple[int, int, int], list[Strip]] | None = None
        self._kitty_id = _new_image_id()
        self._emitted: tuple | None = None
        self._emit_scheduled = False
        self.set_reactive(ImageView.path, path)

    @property
    def mode(self) -> str:
        return getattr(self.app, "graphics", "halfblock")

    @property
    def image(self) -> "Image | None":
        return self._image

    @property
    def shows_path(self) -> bool:
        """The picture on screen is the one `path` names (after a change of `path`, the
        previous picture stays until the new one is decoded)."""
        return self.path is not None and self._image_path == self.path

    def on_mount(self) -> None:
        if self.path is not None:
            self._decode(self.path)

    def watch_path(self, path: "Path | Picture | None") -> None:
        if path is None:
            self.show(None)
        elif self.is_mounted:
            self._decode(path)

    def show(self, image: "Image | None") -> None:
        """Show an already decoded image (or nothing)."""
        self._image = image
        self._image_path = None
        self._strips = None
        self._emitted = None
        self.refresh()

    @work(thread=True, exclusive=True, group="decode")
    def _decode(self, path: "Path | Picture") -> None:
        from aetui.tui.data.images import load

        self.post_message(self.Decoded(path, load(path)))

    def on_image_view_decoded(self, message: Decoded) -> None:
        message.stop()
        if message.path != self.path:
            return  # a picture we no longer want
        if message.image is None:
            from aetui.tui.data.images import name_of

            self.placeholder = f"cannot read {name_of(message.path)}"
        self.show(message.image)
        self._image_path = message.path

    # ---- half-block drawing -------------------------------------------------------------
    def _halfblock_strips(self, width: int, height: int) -> list[Strip]:
        key = (id(self._image), width, height)
        if self._strips is None or self._strips[0] != key:
            self._strips = (key, halfblock.strips(self._image, width, height))
        return self._strips[1]

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._image is None:
            if y == height // 2:
                text = self.placeholder[:width].center(width)
                return Strip([Segment(text, self.rich_style + Style(dim=True))], width)
            return Strip.blank(width, self.rich_style)
        if self.mode == "halfblock":
            strips = self._halfblock_strips(width, height)
            return strips[y] if y < len(strips) else Strip.blank(width, self.rich_style)
        if not self._emit_scheduled:
            self._emit_scheduled = True
            self.call_after_refresh(self._emit_graphics)
        return Strip.blank(width, self.rich_style)

    # ---- kitty / sixel ---------------------------------------------------------------------
    def _cells(self) -> tuple[int, int, int, int]:
        """(left, top, cols, rows) in screen cells where the picture goes, aspect kept."""
        region = self.content_region
        w, h = halfblock.fit(self._image.size, region.width, region.height)
        cols, rows = max(1, w), max(1, math.ceil(h / 2))
        left = region.x + (region.width - cols) // 2
        top = region.y + (region.height - rows) // 2
        return left, top, cols, rows

    def _emit_graphics(self) -> None:
        self._emit_scheduled = False
        driver = getattr(self.app, "_driver", None)
        if (driver is None or self._image is None or self.mode == "halfblock" or not self.is_on_screen
                or not self.screen.is_current):
            return
        left, top, cols, rows = self._cells()
        state = (id(self._image), left, top, cols, rows)
        if self.mode == "kitty" and state == self._emitted:
            return  # kitty keeps its picture over repainted text
        self._emitted = state
        move = f"\x1b7\x1b[{top + 1};{left + 1}H"
        if self.mode == "kitty":
            from aetui.tui.data.images import png_bytes
            from aetui.tui.graphics import kitty

            payload = kitty.delete(self._kitty_id) + move + kitty.transmit(
                png_bytes(self._image), cols=cols, rows=rows, image_id=self._kitty_id)
        else:
            from aetui.tui.graphics import sixel

            cw, ch = cell_pixels()
            iw, ih = self._image.size
            scale = min(cols * cw / iw, rows * ch / ih)
            size = (max(1, int(iw * scale)), max(1, int(ih * scale)))
            payload = move + sixel.encode(self._image.resize(size))
        driver.write(payload + "\x1b8")
        driver.flush()

    def clear_graphics(self) -> None:
        driver = getattr(self.app, "_driver", None)
        if self.mode == "kitty" and driver is not None and self._emitted is not None:
            from aetui.tui.graphics import kitty

            driver.write(kitty.delete(self._kitty_id))
            driver.flush()
        self._emitted = None

    def on_hide(self) -> None:
        self.clear_graphics()

    def on_unmount(self) -> None:
        self.clear_graphics()


def suspend_graphics(screen) -> None:
    """Take a screen's kitty pictures off the terminal (another screen goes on top):
    kitty keeps pictures above text, so repainting the cells would not hide them."""
    for view in screen.query(ImageView):
        view.clear_graphics()


def resume_graphics(screen) -> None:
    for view in screen.query(ImageView):
        view._emitted = None
        view.refresh()


def cell_pixels() -> tuple[int, int]:
    """The terminal's cell size in pixels (for sixel), from TIOCGWINSZ; 10x20 if unknown."""
    try:
        import fcntl
        import struct
        import sys
        import termios

        raw = fcntl.ioctl(sys.__stdout__.fileno(), termios.TIOCGWINSZ, b"\0" * 8)
        rows, cols, xpix, ypix = struct.unpack("HHHH", raw)
        if rows and cols and xpix and ypix:
            return max(1, xpix // cols), max(1, ypix // rows)
    except Exception:
        pass
    return 10, 20
