"""Every default a user sees, once: the spec models' field defaults and the CLI's help
text (`[default: 2000]`) both read this table.

Plain values, no imports: `aetui --help` reads it without pydantic, and the specs
(`aetui.specs`) build their fields from it. Model options have their defaults in
`aetui.models.catalog`; the worker's timing constants live in `aetui.worker`.
"""

from __future__ import annotations

from typing import Any

TRAIN: dict[str, Any] = {
    "data": "builtin",
    "steps": 2000,
    "batch_size": 32,
    "lr": 1e-4,
    "seed": 0,
    "checkpoint_every": 500,
    "checkpoint_minutes": 5.0,
    "log_every": 25,
    "image_every": 250,
    "heldout_fraction": 0.1,
    "precision": "auto",  # bf16 autocast on CUDA, fp32 elsewhere
    "gpus": 1,
}

# what every experiment on a trained model (sweep, walk, probe) shares
EXPERIMENT: dict[str, Any] = {"seed": 0, "bn": "train"}

SWEEP: dict[str, Any] = {"noise": "mix", "images": 64, "batch_size": 64, "control": True, "samples": 8}

# a sweep's level grid per corruption when `--levels` is not given (and the noise names no level)
SWEEP_LEVELS: dict[str, str] = {
    "mix": "0.9,0.7,0.5,0.3,0.1",
    "gauss": "0.05:0.8:8",
    "saltpepper": "0.05:0.5:6",
    "mask": "0.1:0.7:4",
    "blur": "0.5:4:8",
}

WALK: dict[str, Any] = {
    "mode": "iterate",
    "steps": 200,
    "chains": 16,
    "start": "noise",
    "eps": 0.2,  # latent mode only
    "frames": 40,  # about this many frames are saved unless --every says otherwise
    "mu": 0.7,
    "sigma": 0.2,
    "move_rms": 1e-3,  # a chain moves while its step's RMS change per pixel value is above this
}

PROBE: dict[str, Any] = {"layer": "output", "iters": 500, "lr": 0.1, "images": 4, "bn": "eval"}


def shown(value: Any) -> str:
    """A default as help text shows it: `[default: 1e-4]`, `[default: on]`."""
    return f"[default: {text(value)}]"


def text(value: Any) -> str:
    """A value as a user types it: 1e-4 (not 0.0001), 5 (not 5.0), on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value and abs(value) < 1e-2:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{float(mantissa):g}e{int(exponent)}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
