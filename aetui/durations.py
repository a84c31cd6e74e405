"""How long something took or will take, for people: one formatter for the CLI and the dashboard.

Standard library only, so `aetui runs` and the dashboard's table both import it cheaply.
"""

from __future__ import annotations


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `5h07m`, then days past two: `3d04h`. Rounded to the second; empty
    for None and for negative times (a clock that moved back, an ETA not yet known)."""
    if seconds is None or seconds < 0:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h}h{m:02d}m"
    return f"{h // 24}d{h % 24:02d}h"
