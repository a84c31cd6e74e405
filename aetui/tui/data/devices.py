"""What the devices panel shows: each GPU (NVML, when `pynvml` imports and a driver
answers) or the CPU (load average, /proc/meminfo), the jobs holding them, the workers."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from store.states import JobStatus


@dataclass(frozen=True)
class DeviceStat:
    name: str  # the device string jobs use: cpu, cuda:0, ...
    model: str  # what it is, e.g. "NVIDIA A100-SXM4-80GB" or "8 cores"
    util: float | None  # 0..1
    mem_used: int | None  # bytes
    mem_total: int | None
    temperature: int | None = None
    jobs: tuple[int, ...] = ()  # running jobs assigned to it


@dataclass(frozen=True)
class DevicesReport:
    devices: tuple[DeviceStat, ...]
    workers: tuple[dict, ...] = ()
    paused: bool = False
    running_labels: dict[int, str] = field(default_factory=dict)


def _nvml():
    """The pynvml module, initialised once (`aetui.nvml`), or None."""
    from aetui.nvml import module

    return module()


def gpu_stats() -> list[DeviceStat]:
    nv = _nvml()
    if nv is None:
        return []
    out = []
    try:
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            name = nv.nvmlDeviceGetName(h)
            name = name.decode() if isinstance(name, bytes) else str(name)
            try:
                util = nv.nvmlDeviceGetUtilizationRates(h).gpu / 100.0
            except Exception:
                util = None
            mem = nv.nvmlDeviceGetMemoryInfo(h)
            try:
                temp = int(nv.nvmlDeviceGetTemperature(h, 0))
            except Exception:
                temp = None
            out.append(DeviceStat(f"cuda:{i}", name, util, int(mem.used), int(mem.total), temp))
    except Exception:
        return []
    return out


def cpu_stat() -> DeviceStat:
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0] / cores
    except OSError:
        load = None
    used = total = None
    try:
        info = {}
        with open("/proc/meminfo") as f:
            for line in f:
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0]) * 1024
        total = info["MemTotal"]
        used = total - info.get("MemAvailable", info.get("MemFree", 0))
    except (OSError, KeyError, ValueError, IndexError):
        pass
    return DeviceStat("cpu", f"{cores} cores", load, used, total)


def sample(home) -> DevicesReport:
    """One look at the devices, the running jobs on them and this home's workers."""
    from aetui.worker.registry import running_workers
    from store.queries import is_paused, list_jobs

    running = list_jobs(home.db, status=JobStatus.RUNNING, limit=200)
    by_device: dict[str, list[int]] = {}
    for job in running:
        for device in (job.assigned_device or job.device).split(","):  # a multi-device job holds several
            by_device.setdefault(device.strip(), []).append(job.id)
    stats = gpu_stats() or [cpu_stat()]
    devices = tuple(DeviceStat(**{**d.__dict__, "jobs": tuple(sorted(by_device.get(d.name, ())))}) for d in stats)
    return DevicesReport(devices=devices, workers=tuple(running_workers(home)), paused=is_paused(home.db),
                         running_labels={j.id: j.label for j in running})
