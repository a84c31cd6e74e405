"""Model names, their options and spec validation, without importing torch.

The CLI validates a model spec with this module alone so that `aetui queue ...` stays
fast; `aetui.models.build` calls the same `validate` before constructing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MODEL_NAMES = ("mlp", "unet", "attn-unet")


def is_ref(text: str) -> bool:
    """Whether a model name is a reference to the user's code (`PATH.py:NAME`,
    `package.module:NAME`; `aetui.code_snapshot` reads it): built-in names have no colon."""
    return ":" in str(text)


@dataclass(frozen=True)
class Option:
    """One model option as the CLI shows it. `type` is the Python type of a set value."""

    name: str
    type: type
    default: Any
    help: str


_BASE_WIDTH_HELP = "channels of the first level; level i has base_width * 2**i"
_DEPTH_HELP = "number of 2x downsamplings (the bottleneck is res / 2**depth wide)"

OPTIONS: dict[str, tuple[Option, ...]] = {
    "mlp": (
        Option("width", int, 4000, "units of every hidden layer (overcomplete when > 3*res*res)"),
        Option("hidden_layers", int, 5, "number of width -> width layers after the input layer"),
    ),
    "unet": (
        Option("base_width", int, 64, _BASE_WIDTH_HELP + " (the article's 'wide' is 128)"),
        Option("depth", int, 4, _DEPTH_HELP + " (the article's 'deep' is 5)"),
        Option("skips", bool, False, "concatenate encoder skip tensors (learns the identity)"),
        Option(
            "bottleneck",
            str,
            None,
            "'linear:N': squeeze the deepest level through an N-d linear MLP ('hidden')",
        ),
    ),
    "attn-unet": (
        Option("base_width", int, 64, _BASE_WIDTH_HELP + " (a multiple of 8: GroupNorm(8))"),
        Option("depth", int, 3, _DEPTH_HELP),
    ),
}

# Supported resolutions (inclusive). The MLP's first and last layers hold 3*res*res*width
# weights each, so it stops at 128; the U-Nets stop where activations no longer fit a GPU.
RES_RANGE = {"mlp": (8, 128), "unet": (32, 512), "attn-unet": (32, 512)}
MAX_DEPTH = 6
_BOTTLENECK = re.compile(r"linear:([1-9][0-9]*)")


def _check_name(name: str) -> None:
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODEL_NAMES)}")


def defaults(name: str) -> dict[str, Any]:
    """The default options of model `name`."""
    _check_name(name)
    return {opt.name: opt.default for opt in OPTIONS[name]}


def bottleneck_size(spec: str) -> int:
    """N of a 'linear:N' bottleneck spec; ValueError for any other string."""
    match = _BOTTLENECK.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(f"bottleneck must look like 'linear:N' with N >= 1, got {spec!r}")
    return int(match.group(1))


def _check_types(name: str, options: dict[str, Any]) -> None:
    known = {opt.name: opt for opt in OPTIONS[name]}
    for key, value in options.items():
        opt = known.get(key)
        if opt is None:
            allowed = ", ".join(known)
            raise ValueError(f"unknown option {key!r} for model {name!r}; options: {allowed}")
        if value is None and opt.default is None:
            continue
        # bool is a subclass of int: reject True where a width is expected.
        if type(value) is not opt.type:
            raise ValueError(
                f"option {key!r} of model {name!r} must be {opt.type.__name__}, got {value!r}"
            )


def _check_res(name: str, res: int, depth: int | None) -> None:
    if type(res) is not int or res < 1 or res & (res - 1):
        raise ValueError(f"res must be a power of two, got {res!r}")
    low, high = RES_RANGE[name]
    if not low <= res <= high:
        raise ValueError(f"res {res} is outside {low}..{high} supported by model {name!r}")
    if depth is not None and res < 2 ** depth * 2:
        raise ValueError(
            f"res {res} is too small for depth {depth}: {name!r} needs res >= {2 ** depth * 2}"
            " (a bottleneck of at least 2x2)"
        )


def validate(name: str, res: int, **options: Any) -> None:
    """Raise ValueError (one line) if `name`, `res` and `options` do not make a model."""
    _check_name(name)
    _check_types(name, options)
    full = {**defaults(name), **options}
    if name == "mlp":
        if full["width"] < 1:
            raise ValueError(f"width must be >= 1, got {full['width']}")
        if full["hidden_layers"] < 0:
            raise ValueError(f"hidden_layers must be >= 0, got {full['hidden_layers']}")
        _check_res(name, res, None)
        return
    if full["base_width"] < 1:
        raise ValueError(f"base_width must be >= 1, got {full['base_width']}")
    if name == "attn-unet" and full["base_width"] % 8:
        width = full["base_width"]
        raise ValueError(f"base_width of 'attn-unet' must be a multiple of 8, got {width}")
    if not 1 <= full["depth"] <= MAX_DEPTH:
        raise ValueError(f"depth must be in 1..{MAX_DEPTH}, got {full['depth']}")
    if full.get("bottleneck") is not None:
        bottleneck_size(full["bottleneck"])
    _check_res(name, res, full["depth"])


def resolve(name: str, res: int, **options: Any) -> dict[str, Any]:
    """Validate, then return the full options (defaults filled in), as stored in a config."""
    validate(name, res, **options)
    return {**defaults(name), **options}


def supports_latent(name: str, **options: Any) -> bool:
    """Whether the model splits into encode/decode for a latent walk h <- E(D(h)).

    A U-Net with skips cannot: its decoder needs the encoder's skip tensors, not just h.
    """
    full = {**defaults(name), **options}
    if name == "mlp":
        return True
    if name == "unet":
        return not full["skips"]
    return False
