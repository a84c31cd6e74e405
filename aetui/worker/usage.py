"""What a running job uses, sampled where it runs: peak GPU memory, mean GPU utilization,
and CPU time (nvitop's view of a job, kept in the store after it ends).

The worker meters the jobs it runs as local processes (one, or one per device for a job on
several); a Slurm job meters itself on its node (`aetui.worker.slurm_task`).

GPU numbers come from NVML (`aetui.nvml`; none without a driver). Memory is what the
job's processes (and their descendants) hold on its devices; where NVML's process ids
are not this machine's (a container's PID namespace) and the job has its devices to
itself, the devices' used memory counts instead. Utilization is the devices' own (one job
a device), averaged over them. CPU time is user + system time summed over the job's
processes: read from /proc while they run, and from each one's rusage (its waited-for
descendants included) when it ends."""

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
    """One job's usage: `sample()` while it runs, `finish(rusage)` as each of its processes
    ends. A job is one process, or several (the ranks of a job on several devices): CPU
    time adds up over them, GPU memory over its devices, utilization is their mean."""

    def __init__(self, pids: int | list[int], devices: list[str], *, alone: bool = True,
                 earlier: dict[str, Any] | None = None) -> None:
        """`earlier`: the usage already recorded for this attempt by processes before these
        (a Slurm job requeued within one claim runs again in a new process); added to."""
        self.pids = [pids] if isinstance(pids, int) else list(pids)
        from aetui.worker.devices import _nvml_ids

        # how NVML names each device (through this process's own CUDA_VISIBLE_DEVICES)
        self.idents = [i for i in (_nvml_ids(d.strip()) for d in devices) if i is not None]
        self.alone = alone  # no other job on these devices: their used memory is the job's
        earlier = earlier or {}
        self.mem_peak: int | None = earlier.get("gpu_mem_peak")
        self.util_n = int(earlier.get("gpu_samples", 0)) if "gpu_util_mean" in earlier else 0
        self.util_sum = float(earlier.get("gpu_util_mean", 0.0)) * self.util_n
        self.cpu_before = float(earlier.get("cpu_s", 0.0))
        self.cpu_by_pid: dict[int, float] = {}  # the most each process was seen to use; exact once it ended

    @property
    def pid(self) -> int:
        return self.pids[0]

    @property
    def cpu_s(self) -> float | None:
        if not self.cpu_by_pid:
            return self.cpu_before or None
        return self.cpu_before + sum(self.cpu_by_pid.values())

    def sample(self) -> None:
        for pid in self.pids:
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self.cpu_by_pid[pid] = max(cpu, self.cpu_by_pid.get(pid, 0.0))
        if self.idents:
            self._sample_gpus()

    def _sample_gpus(self) -> None:
        from aetui.nvml import module
        from aetui.worker.devices import _nvml_handle

        nv = module()
        if nv is None:
            return
        tree = set().union(*(process_tree(pid) for pid in self.pids))
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
                elif procs and self.alone:  # NVML's pids are not ours to see (a container's PID namespace)
                    mem += int(nv.nvmlDeviceGetMemoryInfo(h).used)
                # no process on the device at all: the job holds nothing there (a rank that ended)
        except Exception:  # a device gone or NVML confused: this sample says nothing
            return
        if matched or self.alone:
            self.mem_peak = max(mem, self.mem_peak or 0)
        if utils:
            self.util_sum += sum(utils) / len(utils)
            self.util_n += 1

    def finish(self, rusage: Any | None, pid: int | None = None) -> None:
        """A process of the job ended (the first one unless `pid` says): its rusage (from
        wait4) is its exact CPU time, its waited-for children included."""
        if rusage is not None:
            self.cpu_by_pid[self.pid if pid is None else pid] = rusage.ru_utime + rusage.ru_stime

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
