"""Sixel graphics: the image quantized to at most 256 colours, sent as a DCS string
(`ESC P q ... ESC \\`) of six-pixel-high bands; each band is one line per colour
(`#n` then run-length-encoded sixel characters, `$` back to the band's start) and `-`
moves to the next band."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL.Image import Image

START = "\x1bPq"
END = "\x1b\\"


def encode(image: "Image", *, colors: int = 256) -> str:
    import numpy as np
    from PIL import Image as PILImage

    rgb = image.convert("RGB")
    quant = rgb.quantize(colors=max(2, min(256, colors)), method=PILImage.Quantize.MEDIANCUT,
                         dither=PILImage.Dither.NONE)
    idx = np.asarray(quant, dtype=np.int16)
    h, w = idx.shape
    palette = quant.getpalette() or []
    used = sorted(int(c) for c in np.unique(idx))
    out = [START, f'"1;1;{w};{h}']
    for c in used:
        r, g, b = palette[3 * c:3 * c + 3]
        out.append(f"#{c};2;{round(r * 100 / 255)};{round(g * 100 / 255)};{round(b * 100 / 255)}")
    weights = (1 << np.arange(6, dtype=np.int16))[:, None]
    for y in range(0, h, 6):
        band = idx[y:y + 6]
        if band.shape[0] < 6:
            band = np.vstack([band, np.full((6 - band.shape[0], w), -1, dtype=np.int16)])
        lines = []
        for c in np.unique(band):
            if c < 0:
                continue
            bits = ((band == c) * weights).sum(axis=0)
            lines.append(f"#{int(c)}{_rle(bits)}")
        out.append("$".join(lines))
        out.append("-")
    out.append(END)
    return "".join(out)


def _rle(bits) -> str:
    """Sixel characters for one colour line, runs of 4+ as `!<n><char>`, trailing blanks dropped."""
    import numpy as np

    n = len(bits)
    nz = np.nonzero(bits)[0]
    if len(nz) == 0:
        return ""
    bits = bits[: nz[-1] + 1]
    n = len(bits)
    change = np.nonzero(np.diff(bits))[0] + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [n]])
    parts = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        ch = chr(63 + int(bits[s]))
        run = e - s
        parts.append(f"!{run}{ch}" if run > 3 else ch * run)
    return "".join(parts)
