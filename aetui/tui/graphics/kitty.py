"""The kitty graphics protocol: a PNG sent base64-encoded in APC escapes
(`ESC _G <keys>;<payload> ESC \\`), 4096-byte chunks, `m=1` on all but the last.

The terminal scales the picture into `c` x `r` cells itself, so no pixel sizes are
needed. `q=2` keeps the terminal from answering (its replies would reach our input).
"""

from __future__ import annotations

import base64

CHUNK = 4096
START = "\x1b_G"
END = "\x1b\\"


def transmit(png: bytes, *, cols: int, rows: int, image_id: int, placement_id: int = 1) -> str:
    """Transmit and display `png` at the cursor, scaled to cols x rows cells."""
    data = base64.standard_b64encode(png).decode("ascii")
    chunks = [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)] or [""]
    out = []
    for n, chunk in enumerate(chunks):
        more = 1 if n < len(chunks) - 1 else 0
        if n == 0:
            keys = f"a=T,f=100,t=d,i={image_id},p={placement_id},c={cols},r={rows},C=1,q=2,m={more}"
        else:
            keys = f"m={more}"
        out.append(f"{START}{keys};{chunk}{END}")
    return "".join(out)


def delete(image_id: int) -> str:
    """Delete an image's placements and free its data."""
    return f"{START}a=d,d=I,i={image_id},q=2{END}"


def delete_all() -> str:
    return f"{START}a=d,d=A,q=2{END}"
