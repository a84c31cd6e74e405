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
    "eval_every": 250,  # the held-out MSE curve (TensorBoard heldout/mse); cheap: one pass over the held-out split
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

# Upper bounds of every count, size and grid a user gives. Past them no machine we know
# runs the job, and a typo (a few extra zeros) is likelier than intent: refused when the
# job is queued, not discovered as a MemoryError or a week-long run. The spec models, the
# CLI and the dashboard all read this table.
LIMITS: dict[str, int] = {
    "steps": 100_000_000,  # training steps; also checkpoint_every, log_every, image_every, eval_every
    "batch_size": 65_536,
    "builtin_images": 1_000_000,  # builtin:N
    "width": 65_536,  # mlp --width, u-net --base-width
    "hidden_layers": 1_000,
    "bottleneck": 1_048_576,  # features of a linear:N bottleneck
    "gpus": 1_024,
    "grid_jobs": 1_000,  # jobs one `aetui queue` grid makes
    "levels": 1_000,  # levels of one sweep
    "sweep_images": 100_000,
    "walk_steps": 100_000,
    "walk_chains": 4_096,
    "probe_iters": 1_000_000,
    "probe_images": 256,
    "samples": 64,
    "priority": 1_000_000,  # both ways: -1000000..1000000
    "seed": 2**62,  # both ways; torch takes 64-bit seeds, and runners derive seed + 1
    "job_id": 2**63 - 1,  # SQLite's largest integer
    "image_side": 16_384,  # pixels on a side of an npy: image
    "path_chars": 4_096,  # PATH_MAX on Linux
    "port": 65_535,
    "snapshot_files": 64,  # files one snapshot of your own code takes (the entry and its local imports)
    "snapshot_file_bytes": 1_048_576,  # bytes of one file in it: larger ones are left out, loudly
    "option_chars": 1_000,  # characters of one --opt value
}


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
