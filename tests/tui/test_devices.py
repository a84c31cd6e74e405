"""The devices panel on GPUs: `aetui.tui.data.devices.sample` reads NVML through the
`pynvml` package (nvidia-ml-py). No GPU here, so a stand-in for that package answers
for two cards; the store, the sampler and the panel are the real ones."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from aetui import nvml
from aetui.tui.data import devices

from .helpers import drive, make_app, ready, screen_text, until

GiB = 2**30


class TwoCards:
    """The calls of the pynvml API that aetui makes, for two cards: cuda:0 busy and
    hot, cuda:1 whose temperature sensor does not answer."""

    def __init__(self) -> None:
        self.initialised = False

    def nvmlInit(self) -> None:
        self.initialised = True

    def nvmlDeviceGetCount(self) -> int:
        assert self.initialised, "NVML used before nvmlInit"
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int):
        return i

    def nvmlDeviceGetName(self, h):
        return b"NVIDIA H100 80GB HBM3" if h == 0 else "NVIDIA H100 80GB HBM3"  # bytes in old releases

    def nvmlDeviceGetUtilizationRates(self, h):
        return SimpleNamespace(gpu=[97, 3][h], memory=0)

    def nvmlDeviceGetMemoryInfo(self, h):
        return SimpleNamespace(used=[61 * GiB, 1 * GiB][h], total=80 * GiB, free=0)

    def nvmlDeviceGetTemperature(self, h, sensor):
        if h == 1:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 71


@pytest.fixture
def two_cards(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", TwoCards())
    monkeypatch.setattr(nvml, "_state", {})  # forget what this process found before


def test_sample_lists_each_gpu_with_its_use_memory_and_jobs(seeded, two_cards):
    from store import queue

    home, ids = seeded
    got = queue.claim(home.db, worker="vm:7", host="vm", pid=7, device="cuda:1", job_id=ids["queued"])
    assert got is not None
    report = devices.sample(home)
    assert [d.name for d in report.devices] == ["cuda:0", "cuda:1"]  # GPUs found: no CPU line
    busy, spare = report.devices
    assert busy.model == spare.model == "NVIDIA H100 80GB HBM3"
    assert (busy.util, busy.mem_used, busy.mem_total, busy.temperature) == (0.97, 61 * GiB, 80 * GiB, 71)
    assert (spare.util, spare.temperature) == (0.03, None)
    assert busy.jobs == () and spare.jobs == (ids["queued"],)
    assert report.running_labels[ids["queued"]] == "unet res32 builtin:64 steps=2000"


def test_panel_shows_the_cards_and_who_holds_them(seeded, two_cards):
    from store import queue

    home, ids = seeded
    queue.claim(home.db, worker="vm:7", host="vm", pid=7, device="cuda:1", job_id=ids["queued"])
    app = make_app(home, devices_sampler=devices.sample)

    async def scenario(pilot):
        await ready(pilot)
        await until(pilot, lambda: "cuda:1" in screen_text(pilot.app), what="the GPU lines")
        lines = {line.split()[0]: line for line in screen_text(pilot.app).splitlines()
                 if line.strip().startswith("cuda:")}
        assert "NVIDIA H100" in lines["cuda:0"] and "97%" in lines["cuda:0"] and "71°C" in lines["cuda:0"]
        assert "idle" in lines["cuda:0"]
        assert f"#{ids['queued']} unet res32" in lines["cuda:1"] and "3%" in lines["cuda:1"]

    drive(app, scenario, size=(160, 40))
