"""Pictures in the terminal: half-block cells everywhere, kitty or sixel graphics
where the terminal has them. `detect.choose` picks one; the encoders are pure functions."""

from aetui.tui.graphics.detect import MODES, choose

__all__ = ["MODES", "choose"]
