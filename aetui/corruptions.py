"""Image corruptions shared by training options, noise sweeps and manifold walks.

Each corruption has one *level* (what a sweep varies) and optional fixed parameters,
written the same way everywhere::

    mix                      article defaults: alpha 0.3, mu 0.7, sigma 0.2
    mix:0.3,mu=0.5,sigma=0.2
    gauss:0.1   saltpepper:0.05   mask:0.25   blur:2

and a level grid is ``0.9,0.7,0.5`` or ``start:stop:count`` (inclusive, evenly spaced).
Parsing is plain Python so the CLI can validate without importing torch; :func:`apply`
imports it when called. Nothing is clamped: like the article's convex noise mix, the
corrupted images may leave [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aetui.errors import UserError

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ParamInfo:
    name: str
    default: float
    lo: float
    hi: float


@dataclass(frozen=True)
class CorruptionInfo:
    """What a corruption's level means, its default and allowed range, its fixed params."""

    level_name: str
    default: float
    lo: float
    hi: float
    params: tuple[ParamInfo, ...]
    help: str
    lo_open: bool = False  # the level must be strictly above ``lo``

    def range_text(self) -> str:
        return f"{'(' if self.lo_open else '['}{_fmt(self.lo)}, {_fmt(self.hi)}]"

    def allows(self, level: float) -> bool:
        above = level > self.lo if self.lo_open else level >= self.lo
        return above and level <= self.hi


CORRUPTIONS: dict[str, CorruptionInfo] = {
    "mix": CorruptionInfo(
        "alpha", 0.3, 0.0, 1.0,
        (ParamInfo("mu", 0.7, -10.0, 10.0), ParamInfo("sigma", 0.2, 0.0, 10.0)),
        "convex noise mix x' = alpha*x + (1-alpha)*e, e ~ N(mu, sigma) (the article's noise)"),
    "gauss": CorruptionInfo(
        "sigma", 0.1, 0.0, 10.0, (), "additive noise x' = x + sigma*e, e ~ N(0, 1)"),
    "saltpepper": CorruptionInfo(
        "p", 0.1, 0.0, 1.0, (), "a fraction p of pixels set to 0 or 1 (half each), all channels"),
    "mask": CorruptionInfo(
        "p", 0.25, 0.0, 1.0, (), "a fraction p of pixels zeroed, all channels"),
    "blur": CorruptionInfo(
        "sigma", 1.0, 0.0, 20.0, (), "Gaussian blur of std sigma pixels (reflect padding)",
        lo_open=True),
}


@dataclass(frozen=True)
class Corruption:
    """A corruption with its level and every fixed parameter spelled out."""

    name: str
    level: float
    params: tuple[tuple[str, float], ...] = ()

    def __str__(self) -> str:
        extra = "".join(f",{k}={_fmt(v)}" for k, v in self.params)
        return f"{self.name}:{_fmt(self.level)}{extra}"

    def as_dict(self) -> dict:
        return {"name": self.name, "level": self.level, "params": dict(self.params)}


def parse_corruption(text: str) -> Corruption:
    """Parse ``NAME[:LEVEL][,key=value...]``; missing values take their defaults."""
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    info = _info(name)
    items = [item.strip() for item in rest.split(",")] if rest.strip() else []
    level = info.default
    if items and "=" not in items[0]:
        level = _number(items.pop(0), f"{name} level")
    _check_level(name, info, level)
    given: dict[str, float] = {}
    known = {p.name: p for p in info.params}
    for item in items:
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq:
            raise UserError(f"bad item {item!r} in {text.strip()!r}: expected key=value")
        if key not in known:
            expected = ", ".join(known) if known else "none"
            raise UserError(f"unknown parameter {key!r} for {name} (parameters: {expected})")
        if key in given:
            raise UserError(f"parameter {key!r} given twice in {text.strip()!r}")
        p = known[key]
        given[key] = _number(value, f"{name} {key}")
        if not p.lo <= given[key] <= p.hi:
            raise UserError(f"{name} {key}={value} out of range [{_fmt(p.lo)}, {_fmt(p.hi)}]")
    params = tuple((p.name, given.get(p.name, p.default)) for p in info.params)
    return Corruption(name, level, params)


def parse_levels(text: str, name: str) -> list[float]:
    """Parse a level grid, ``a,b,c`` or ``start:stop:count``, checked against ``name``'s range."""
    info = _info(name)
    text = text.strip()
    if ":" in text:
        parts = [part.strip() for part in text.split(":")]
        if len(parts) != 3:
            raise UserError(f"bad level range {text!r}: expected start:stop:count")
        start, stop = (_number(p, "level range bound") for p in parts[:2])
        try:
            count = int(parts[2])
        except ValueError:
            count = 0
        if count < 2:
            raise UserError(f"bad level range {text!r}: count must be a whole number >= 2")
        levels = [start + (stop - start) * i / (count - 1) for i in range(count)]
        levels[-1] = stop
    else:
        if not text:
            raise UserError("empty level list: write e.g. 0.9,0.7,0.5 or 0.05:0.8:8")
        levels = [_number(part.strip(), "level") for part in text.split(",")]
    for level in levels:
        _check_level(name, info, level)
    return levels


def apply(x: "torch.Tensor", c: Corruption, *, level: float | None = None,
          generator: "torch.Generator | None" = None) -> "torch.Tensor":
    """Corrupt a float batch ``(N, C, H, W)``; ``level`` overrides ``c.level``.

    Noise is drawn on ``x``'s device, so a ``generator`` must live there too; with one,
    the result is reproducible.
    """
    import torch

    info = _info(c.name)
    level = c.level if level is None else float(level)
    _check_level(c.name, info, level)
    params = {p.name: p.default for p in info.params} | dict(c.params)
    if c.name == "mix":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        noise = noise * params["sigma"] + params["mu"]
        return level * x + (1.0 - level) * noise
    if c.name == "gauss":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + level * noise
    if c.name in ("saltpepper", "mask"):
        # One uniform draw per pixel, shared by its channels.
        u = torch.rand((x.shape[0], 1, *x.shape[2:]), generator=generator, device=x.device)
        if c.name == "mask":
            return x * (u >= level).to(x.dtype)
        out = torch.where(u < level / 2, torch.zeros((), dtype=x.dtype, device=x.device), x)
        return torch.where((u >= level / 2) & (u < level),
                           torch.ones((), dtype=x.dtype, device=x.device), out)
    return _blur(x, level)


def _blur(x: "torch.Tensor", sigma: float) -> "torch.Tensor":
    """Separable Gaussian blur, kernel 2*ceil(3 sigma)+1 capped to the image, reflect pad."""
    import torch
    import torch.nn.functional as F

    size = 2 * math.ceil(3 * sigma) + 1
    side = min(x.shape[-2:])
    size = min(size, side if side % 2 else side - 1)  # reflect padding needs pad < side
    t = torch.arange(size, device=x.device, dtype=x.dtype) - size // 2
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    channels, pad = x.shape[1], size // 2
    horizontal = kernel.view(1, 1, 1, size).expand(channels, 1, 1, size)
    vertical = kernel.view(1, 1, size, 1).expand(channels, 1, size, 1)
    out = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), horizontal, groups=channels)
    return F.conv2d(F.pad(out, (0, 0, pad, pad), mode="reflect"), vertical, groups=channels)


def _info(name: str) -> CorruptionInfo:
    try:
        return CORRUPTIONS[name]
    except KeyError:
        raise UserError(f"unknown corruption {name!r}: expected one of "
                         f"{', '.join(CORRUPTIONS)}") from None


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(f"bad {what} {text!r}: expected a number")
    return value


def _check_level(name: str, info: CorruptionInfo, level: float) -> None:
    if not info.allows(level):
        raise UserError(f"{name} {info.level_name}={_fmt(level)} out of range "
                         f"{info.range_text()}")


def _fmt(value: float) -> str:
    """Shortest text that reads back as the same float, without a trailing ``.0``."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
