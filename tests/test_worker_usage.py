"""The worker records what each job used (issue 14): peak GPU memory and mean GPU
utilization sampled through NVML, CPU time from the child's rusage, kept on the attempt
after the job ends and shown by `aetui show`. No GPU here: a stand-in for the `pynvml`
package answers for one card whose running processes are this test's children (the
job's child among them); the worker, its child process and the store are real."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from aetui import nvml
from tests.conftest import aetui, aetui_json

GiB = 2**30


class OneCard:
    def nvmlInit(self) -> None:
        pass

    def nvmlShutdown(self) -> None:
        pass

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, i: int):
        return i

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=40, memory=0)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=70 * GiB, total=80 * GiB, free=10 * GiB)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        """The children of this process (the in-process worker's: the job's child): 3 GiB
        each. Not their own children: the job's child runs `git rev-parse` for a moment,
        which holds no GPU memory."""
        me = os.getpid()
        kids = Path(f"/proc/{me}/task/{me}/children").read_text().split()
        return [SimpleNamespace(pid=int(p), usedGpuMemory=3 * GiB) for p in kids]


@pytest.mark.slow
def test_worker_records_gpu_memory_utilization_and_cpu_time(home, monkeypatch):
    from aetui.home import Home
    from aetui.worker.supervisor import Worker
    from store import queue

    monkeypatch.setitem(sys.modules, "pynvml", OneCard())
    monkeypatch.setattr(nvml, "_state", {})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    h = Home.resolve(home)
    (job,) = queue.enqueue_many(h.db, [dict(kind="noop", spec={"steps": 3, "sleep_s": 0.2}, label="noop")],
                                run_root=str(h.runs))
    assert Worker(h, ["cuda:0"], until_empty=True, poll_s=0.05, log=lambda _: None).run() == 0
    d = aetui_json(home, "show", str(job.id))
    assert d["status"] == "done", d["error"]
    usage = d["attempts"][0]["usage"]
    # the child's own memory (3 GiB), not the card's 70 GiB in use; the card's utilization
    assert usage["gpu_mem_peak"] == 3 * GiB and usage["gpu_util_mean"] == 0.4 and usage["gpu_samples"] >= 1
    assert usage["cpu_s"] > 0  # a Python interpreter that started and ran the job
    assert d["usage"] == {"gpu_mem_peak": 3 * GiB, "gpu_util_mean": 0.4, "cpu_s": usage["cpu_s"]}
    assert "GPU mem peak 3.00 GiB · GPU util 40% · CPU " in aetui(home, "show", str(job.id)).stdout


class TwoCards(OneCard):
    """Two cards at 40% and 60%; card i lists rank i of the job with 3 GiB while it runs
    (the children of this process whose command line names `home`: another test's leftover
    child in this pytest process is not the job's)."""

    def __init__(self, home: Path) -> None:
        self.home = str(home)

    def nvmlDeviceGetCount(self) -> int:
        return 2

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=(40, 60)[h], memory=0)

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        me = os.getpid()
        ranks = []
        for pid in sorted(int(p) for p in Path(f"/proc/{me}/task/{me}/children").read_text().split()):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if stat[0] != "Z" and self.home in cmd:  # an ended rank holds no memory
                ranks.append(pid)
        return [SimpleNamespace(pid=ranks[h], usedGpuMemory=3 * GiB)] if len(ranks) > h else []


@pytest.mark.slow
def test_a_job_on_two_devices_records_the_usage_of_both_ranks(home, monkeypatch):
    """One process per device: memory adds up over the devices, utilization is their mean,
    CPU time is both ranks' (each reaped with its rusage)."""
    from aetui.home import Home
    from aetui.worker.supervisor import Worker
    from store import queue

    h = Home.resolve(home)
    monkeypatch.setitem(sys.modules, "pynvml", TwoCards(h.path))
    monkeypatch.setattr(nvml, "_state", {})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    (job,) = queue.enqueue_many(h.db, [dict(kind="noop", spec={"steps": 4, "sleep_s": 0.3, "gpus": 2}, gpus=2,
                                            label="noop on two")], run_root=str(h.runs))
    assert Worker(h, ["cuda:0", "cuda:1"], until_empty=True, poll_s=0.05, log=lambda _: None).run() == 0
    d = aetui_json(home, "show", str(job.id))
    assert d["status"] == "done" and d["attempts"][0]["device"] == "cuda:0,cuda:1", d["error"]
    usage = d["attempts"][0]["usage"]
    assert usage["gpu_mem_peak"] == 6 * GiB and usage["gpu_util_mean"] == 0.5, usage
    assert usage["cpu_s"] > 0


def test_a_meter_adds_to_the_usage_recorded_before_it():
    """A Slurm job requeued within its claim runs again in a new process: its meter starts
    from what the attempt recorded (`aetui.worker.slurm_task`)."""
    from aetui.worker.usage import UsageMeter

    earlier = {"gpu_mem_peak": 5 * GiB, "gpu_util_mean": 0.5, "gpu_samples": 10, "cpu_s": 100.0}
    meter = UsageMeter(os.getpid(), ["cpu"], earlier=earlier)
    assert meter.usage() == earlier  # nothing sampled yet: what was recorded stands
    meter.sample()
    now = meter.usage()
    assert now["cpu_s"] > 100.0 and now["gpu_mem_peak"] == 5 * GiB and now["gpu_samples"] == 10
    meter.finish(SimpleNamespace(ru_utime=1.5, ru_stime=0.5))
    assert meter.usage()["cpu_s"] == 102.0
    fresh = UsageMeter(os.getpid(), ["cpu"])
    assert fresh.usage() == {}


class IdleCard(OneCard):
    """A card with 70 GiB in use and no compute process listed."""

    def nvmlDeviceGetComputeRunningProcesses(self, h):
        return []


def test_a_device_with_no_process_on_it_holds_none_of_the_jobs_memory(monkeypatch):
    """The device's used memory stands in for the job's only where NVML lists processes but
    not ours (a container's PID namespace); a device with none listed (a rank that ended)
    adds nothing. Before, it added the card's whole 70 GiB."""
    from aetui.worker.usage import UsageMeter

    monkeypatch.setitem(sys.modules, "pynvml", IdleCard())
    monkeypatch.setattr(nvml, "_state", {})
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    meter = UsageMeter(os.getpid(), ["cuda:0"], alone=True)
    meter.sample()
    assert meter.usage()["gpu_mem_peak"] == 0 and meter.usage()["gpu_util_mean"] == 0.4
