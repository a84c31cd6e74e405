"""What every benchmark shares: interleaved repeats, medians, the machine, the JSON file.

Timings on a shared machine drift with its load, so each benchmark runs its variants
in interleaved rounds (the order rotating each round) in one process or one invocation,
and reports medians and ratios of medians; absolute numbers are context only.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def out_dir(given: str | None = None) -> Path:
    """Where results go: --out, else $OUT (the device tool's folder), else benchmarks/results."""
    path = Path(given or os.environ.get("OUT") or RESULTS)
    path.mkdir(parents=True, exist_ok=True)
    return path


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def paired_ratio(a: list[float], b: list[float]) -> float | None:
    """Median over rounds of a[r] / b[r]: each round's two runs were neighbours in time,
    so the machine's load drifting between rounds cancels out."""
    pairs = [x / y for x, y in zip(a, b) if x and y]
    return round(statistics.median(pairs), 3) if pairs else None


def rounds(variants: dict[str, Callable[[], float]], repeats: int, *, log: Callable[[str], None] | None = None,
           deadline: float | None = None) -> dict[str, list[float]]:
    """Run every variant once a round, `repeats` rounds, rotating the order; their values per
    variant. No round starts after `deadline` (a `time.perf_counter()` value) but the first."""
    names = list(variants)
    values: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        if r and deadline is not None and time.perf_counter() > deadline:
            if log:
                log(f"time budget spent: {r} of {repeats} rounds")
            break
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            value = variants[name]()
            values[name].append(value)
            if log:
                log(f"round {r + 1}/{repeats} {name}: {value:.4g}")
    return values


def machine() -> dict[str, Any]:
    """The machine the figures came from (CPU model, cores, load; the GPU where torch sees one)."""
    info: dict[str, Any] = {
        "host": platform.node(), "system": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "cpu": _cpu_model(), "load_avg": [round(x, 2) for x in os.getloadavg()],
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["cuda"] = torch.version.cuda
    return info


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_result(name: str, data: dict[str, Any], out: str | None = None, *, tiny: bool = False) -> Path:
    """Write `<out>/<name>.json` (`<name>_tiny.json` for a tiny run, so that a check never
    overwrites real figures) with the machine and the time attached; returns the path."""
    payload = {"benchmark": name, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
               "tiny": tiny, **data}
    path = out_dir(out) / f"{name}{'_tiny' if tiny else ''}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
