"""What a running job uses, sampled by its worker: peak GPU memory, mean GPU utilization,
and CPU time (nvitop's view of a job, kept in the store after it ends).

GPU numbers come from NVML (`aetui.nvml`; none without a driver). Memory is what the
job's processes (its child and their descendants) hold on its devices; where NVML's
process ids are not this machine's (a container's PID namespace) and the job has its
devices to itself, the devices' used memory counts instead. Utilization is the devices'
own (one job a device). CPU time is the child's user + system time: read from /proc
while it runs, and from its rusage (its waited-for descendants included) when it ends.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_tree(pid: int) -> set[int]:
    """The process and its descendants, from /proc (just the process elsewhere)."""
    tree, frontier = {pid}, [pid]
    while frontier:
        p = frontier.pop()
        kids: list[str] = []
        try:  # each thread's children: a process started from any thread of it
            for task in Path(f"/proc/{p}/task").iterdir():
                kids += (task / "children").read_text().split()
        except OSError:
            continue
        for k in map(int, kids):
            if k not in tree:
                tree.add(k)
                frontier.append(k)
    return tree


def cpu_seconds(pid: int) -> float | None:
    """User + system seconds of a live process and of its children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # after the command: state is fields[0]; utime, stime, cutime, cstime are 14..17 (1-based) of the line
    return sum(int(v) for v in fields[11:15]) / TICKS


class UsageMeter:
    """One job's usage on this worker: `sample()` while it runs, `finish(rusage)` at its end."""

    def __init__(self, pid: int, devices: list[str], *, alone: bool = True) -> None:
        self.pid = pid
        from aetui.worker.devices import _nvml_ids

        # how NVML names each device (through the worker's own CUDA_VISIBLE_DEVICES)
        self.idents = [i for i in (_nvml_ids(d.strip()) for d in devices) if i is not None]
        self.alone = alone  # no other job on these devices: their used memory is the job's
        self.mem_peak: int | None = None
        self.util_sum, self.util_n = 0.0, 0
        self.cpu_s: float | None = None

    def sample(self) -> None:
        cpu = cpu_seconds(self.pid)
        if cpu is not None:
            self.cpu_s = max(cpu, self.cpu_s or 0.0)
        if self.idents:
            self._sample_gpus()

    def _sample_gpus(self) -> None:
        from aetui.nvml import module
        from aetui.worker.devices import _nvml_handle

        nv = module()
        if nv is None:
            return
        tree = process_tree(self.pid)
        mem, utils, matched = 0, [], False
        try:
            for ident in self.idents:
                h = _nvml_handle(nv, ident)
                utils.append(nv.nvmlDeviceGetUtilizationRates(h).gpu / 100.0)
                try:
                    procs = nv.nvmlDeviceGetComputeRunningProcesses(h)
                except Exception:
                    procs = []
                ours = [p for p in procs if p.pid in tree and p.usedGpuMemory is not None]
                if ours:
                    matched = True
                    mem += sum(int(p.usedGpuMemory) for p in ours)
                elif self.alone:
                    mem += int(nv.nvmlDeviceGetMemoryInfo(h).used)
        except Exception:  # a device gone or NVML confused: this sample says nothing
            return
        if matched or self.alone:
            self.mem_peak = max(mem, self.mem_peak or 0)
        if utils:
            self.util_sum += sum(utils) / len(utils)
            self.util_n += 1

    def finish(self, rusage: Any | None) -> None:
        """The child ended: its rusage (from wait4) is the exact CPU time."""
        if rusage is not None:
            self.cpu_s = rusage.ru_utime + rusage.ru_stime

    def usage(self) -> dict[str, Any]:
        """The record stored on the attempt (`store.tables.Attempt.usage`)."""
        out: dict[str, Any] = {}
        if self.mem_peak is not None:
            out["gpu_mem_peak"] = self.mem_peak
        if self.util_n:
            out["gpu_util_mean"] = round(self.util_sum / self.util_n, 4)
            out["gpu_samples"] = self.util_n
        if self.cpu_s is not None:
            out["cpu_s"] = round(self.cpu_s, 3)
        return out
