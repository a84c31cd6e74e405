"""Device discovery and device strings, without importing torch.

A worker runs one job per device at a time. GPUs are found with NVML when the
`nvidia-ml-py` package is present, else from the driver's /proc entries; CPU is the
device when there are none. `CUDA_VISIBLE_DEVICES` narrows what this process may use.
`cpu:N` names CPU slots (`aetui worker --devices cpu:0,cpu:1`): each runs a job on the
CPU and counts as one device for a job's `--gpus`, a test and CPU-only aid.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_DEVICE = re.compile(r"(auto|cpu(?::\d+)?|cuda(?::(\d+))?)")


def gpu_count() -> int:
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        try:
            count = pynvml.nvmlDeviceGetCount()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no NVML library, no driver, or no package
        proc = Path("/proc/driver/nvidia/gpus")
        count = len(list(proc.iterdir())) if proc.is_dir() else 0
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [v for v in visible.split(",") if v.strip() not in ("", "-1")]
        count = min(count, len(ids))
    return count


def discover() -> list[str]:
    """The devices this machine offers to jobs: each GPU, or the CPU when there is none."""
    n = gpu_count()
    return [f"cuda:{i}" for i in range(n)] if n else ["cpu"]


def parse_device(text: str, available: list[str] | None = None) -> str:
    """Normalise a device request (`auto`, `cpu`, `cuda`, `cuda:N`); ValueError if unknown here."""
    text = text.strip().lower()
    match = _DEVICE.fullmatch(text)
    if match is None:
        raise ValueError(f"unknown device {text!r}: use auto, cpu or cuda:N")
    if text == "cuda":
        text = "cuda:0"
    if text in ("auto", "cpu") or text.startswith("cpu:"):  # cpu:N: a CPU slot (one "device" for --gpus)
        return text
    available = discover() if available is None else available
    if text not in available:
        have = ", ".join(available)
        raise ValueError(f"unknown device {text!r}: this machine has {have}")
    return text


def physical_index(device: str) -> str | None:
    """The CUDA index to put in CUDA_VISIBLE_DEVICES for a `cuda:N` device, else None."""
    return device.split(":", 1)[1] if device.startswith("cuda:") else None
