"""Small text formatters shared by the widgets (numbers, durations, times, bars)."""

from __future__ import annotations

import re
import time

from aetui.durations import duration  # noqa: F401  (one formatter, shared with the CLI)

EIGHTHS = " ▏▎▍▌▋▊▉█"


def num(value: float | None, digits: int = 4, width: int | None = None) -> str:
    """`value` to `digits` significant digits, with a short exponent (`1.26e5`, `3e-7`);
    given a `width`, with fewer digits where needed to fit it (a cut number misleads)."""
    if value is None:
        return ""
    if value == 0:
        return "0"
    text = ""
    for d in range(max(1, digits), 0, -1):
        text = _short_exponent(f"{value:.{d}g}")
        if width is None or len(text) <= width:
            break
    return text


def _short_exponent(text: str) -> str:
    """`1.26e+05` -> `1.26e5`, `3e-07` -> `3e-7`."""
    mantissa, e, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if e else text


def rate(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def clock(t: float | None) -> str:
    """Local time as `MM-DD HH:MM`."""
    if t is None:
        return ""
    return time.strftime("%m-%d %H:%M", time.localtime(t))


def stamp(t: float | None) -> str:
    if t is None:
        return "—"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "K", "M", "G", "T"):
        if n < 1024 or unit == "T":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return str(n)


def bar(fraction: float, width: int) -> str:
    """A bar of `width` cells filled to `fraction` with eighth-block precision."""
    if width <= 0:
        return ""
    fraction = min(1.0, max(0.0, fraction))
    eighths = int(round(fraction * width * 8))
    full, part = divmod(eighths, 8)
    text = "█" * full + (EIGHTHS[part] if part and full < width else "")
    return text.ljust(width)


def fit(text: str, width: int, align: str = "left") -> str:
    """Pad or cut `text` to exactly `width` cells (cut text ends in '…')."""
    if width <= 0:
        return ""
    if len(text) > width:
        return text[: width - 1] + "…" if width > 1 else text[:width]
    return text.rjust(width) if align == "right" else text.ljust(width)


_COUNTED = re.compile(r"(.*\S) (\d+)/(\d+)")


def phase(text: str, width: int) -> str:
    """What a job does before its first step, in `width` cells: whole when it fits, else
    its last word and percentage (`preparing data 300/2048` -> `data 15%`) or its first
    word (`building the model` -> `building…`)."""
    if len(text) <= width:
        return text
    counted = _COUNTED.fullmatch(text)
    if counted:
        what, done, total = counted.group(1), int(counted.group(2)), int(counted.group(3))
        short = f"{what.split()[-1]} {100 * done // max(total, 1)}%"
    else:
        short = text.split()[0] + "…"
    return fit(short, width)
