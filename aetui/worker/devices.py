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


def _nvml_ids(device: str) -> str | None:
    """What names a `cuda:N` device to NVML and to CUDA: the Nth entry of the worker's own
    CUDA_VISIBLE_DEVICES when it has one (an index or a UUID), else N; None for a CPU."""
    index = physical_index(device)
    if index is None:
        return None
    inherited = os.environ.get("CUDA_VISIBLE_DEVICES")
    if inherited is not None:
        ids = [v.strip() for v in inherited.split(",") if v.strip()]
        if int(index) < len(ids):
            return ids[int(index)]
    return index


def _nvml_handle(nv, ident: str):  # noqa: ANN001, ANN202
    if ident.isdigit():
        return nv.nvmlDeviceGetHandleByIndex(int(ident))
    return nv.nvmlDeviceGetHandleByUUID(ident)


def _text(value) -> str:  # noqa: ANN001
    return value.decode() if isinstance(value, bytes) else str(value)


def pinned_visible(devices: list[str]) -> str:
    """CUDA_VISIBLE_DEVICES for a process that must see exactly these devices: their UUIDs
    (which no CUDA_DEVICE_ORDER or renumbering changes) when NVML answers, else their
    indices in PCI bus order; empty for CPU devices (no GPU at all)."""
    idents = [i for i in (_nvml_ids(d) for d in devices) if i is not None]
    if not idents:
        return ""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
    except Exception:  # no package, no driver: indices (with CUDA_DEVICE_ORDER=PCI_BUS_ID)
        return ",".join(idents)
    try:
        return ",".join(_text(pynvml.nvmlDeviceGetUUID(_nvml_handle(pynvml, i))) for i in idents)
    except Exception:
        return ",".join(idents)
    finally:
        pynvml.nvmlShutdown()


def held_by_others(devices: list[str], ours: set[int] | None = None) -> set[str]:
    """The `cuda:N` devices on which NVML lists a compute process that is not ours: not
    this process, nor one of its descendants, nor one in `ours`. A colleague's run (or an
    orphan of an earlier job) holds such a device; a worker does not pile onto it unless
    told to share. Nothing is held when NVML does not answer."""
    gpus = [(d, i) for d in devices if (i := _nvml_ids(d)) is not None]
    if not gpus:
        return set()
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
    except Exception:
        return set()
    held = set()
    try:
        for device, ident in gpus:
            try:
                procs = pynvml.nvmlDeviceGetComputeRunningProcesses(_nvml_handle(pynvml, ident))
            except Exception:
                continue
            if any(not _is_ours(int(p.pid), ours or set()) for p in procs):
                held.add(device)
    finally:
        pynvml.nvmlShutdown()
    return held


def _is_ours(pid: int, ours: set[int]) -> bool:
    """`pid` is this process, one of `ours`, or a descendant of either (its parents, read
    from /proc, lead to one)."""
    me = os.getpid()
    seen = 0
    while pid > 1 and seen < 256:
        if pid == me or pid in ours:
            return True
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        pid = int(stat[stat.rfind(")") + 2:].split()[1])
        seen += 1
    return False
