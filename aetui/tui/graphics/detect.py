"""Which way to draw images: kitty, sixel or unicode half-blocks.

Chosen from the environment: inside tmux or screen half-blocks (multiplexers do not
pass graphics through by default), kitty where the terminal says it is kitty-compatible,
sixel where it is a known sixel terminal, half-blocks otherwise (plain SSH, unknown
terminals). `--graphics` (or `AETUI_GRAPHICS`) overrides the guess.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from aetui.errors import UserError

MODES = ("auto", "kitty", "sixel", "halfblock")
_KITTY_PROGRAMS = {"wezterm", "ghostty"}
_SIXEL_PROGRAMS = {"iterm.app", "mlterm", "contour"}
_SIXEL_TERMS = ("foot", "mlterm", "yaft", "contour", "sixel")


def choose(requested: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The drawing mode to use: `requested` unless it is None/"auto", else a guess."""
    env = os.environ if env is None else env
    requested = (requested or env.get("AETUI_GRAPHICS") or "auto").strip().lower()
    if requested not in MODES:
        raise UserError(f"unknown graphics mode {requested!r}: use {', '.join(MODES)}")
    if requested != "auto":
        return requested
    term = env.get("TERM", "").lower()
    program = env.get("TERM_PROGRAM", "").lower()
    if env.get("TMUX") or env.get("STY") or term.startswith(("screen", "tmux")):
        return "halfblock"
    if env.get("KITTY_WINDOW_ID") or "kitty" in term or "ghostty" in term or program in _KITTY_PROGRAMS:
        return "kitty"
    if program in _SIXEL_PROGRAMS or any(t in term for t in _SIXEL_TERMS):
        return "sixel"
    return "halfblock"
