"""Each benchmark runs at tiny sizes on the CPU and writes well-formed JSON with its keys.

No timing is asserted anywhere here: the figures live in benchmarks/results and the README.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

# each benchmark script runs for real; the first test that reads run_all.py's folder waits for three
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

BENCH = ROOT / "benchmarks"
SHARED = ("cli_start", "store_ops", "dashboard")  # run once, by run_all.py, for the tests that read them


def run_bench(tmp_path: Path, *cmd: str, timeout: float = 280) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AETUI_") and k != "OUT"}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.run(list(cmd), cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


@pytest.fixture(scope="module")
def run_all_out(tmp_path_factory) -> Path:
    """The folder `run_all.py --tiny --only cli_start,store_ops,dashboard` wrote: each of those
    benchmarks runs once, and its test reads its JSON file from here."""
    out = tmp_path_factory.mktemp("bench")
    run_bench(out, sys.executable, str(BENCH / "run_all.py"), "--tiny", "--only", ",".join(SHARED), "--out", str(out),
              timeout=540)
    return out


def load(path: Path) -> dict:
    assert path.is_file(), f"{path.name} was not written"
    data = json.loads(path.read_text())
    assert data["tiny"] is True
    assert {"benchmark", "created", "machine"} <= set(data)
    assert {"cpus", "cpu", "load_avg", "python"} <= set(data["machine"])
    return data


def check_train(data: dict) -> None:
    assert {"device", "steps", "warmup_steps", "repeats", "configs", "targets", "met", "complete"} <= set(data)
    assert data["complete"] and data["configs"]
    for config in data["configs"]:
        assert {"config", "model", "res", "batch", "images_per_s", "samples", "ratios", "ratios_of_medians",
                "gflop_per_image", "aetui_first_step_s", "aetui_compile_s"} <= set(config)
        assert set(config["images_per_s"]) == {"aetui", "article", "hand"}
        assert all(v > 0 for v in config["images_per_s"].values())
        assert set(config["ratios"]) == {"aetui_vs_article", "aetui_vs_hand", "hand_vs_article"}
        assert config["gflop_per_image"] > 0


def test_gpu_script_runs_tiny_on_the_cpu(tmp_path):
    """gpu.sh --tiny runs benchmarks/train.py on the tiny configs (no CUDA needed): this also
    tests train.py's JSON, once."""
    env_out = {"OUT": str(tmp_path)}
    proc = subprocess.run(["bash", str(BENCH / "gpu.sh"), "--tiny"], cwd=ROOT, capture_output=True, text=True,
                          timeout=280, env={**{k: v for k, v in os.environ.items() if not k.startswith("AETUI_")},
                                            **env_out})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    data = load(tmp_path / "gpu_tiny.json")
    check_train(data)
    assert {c["config"] for c in data["configs"]} == {"tiny-unet", "tiny-mlp"}


def test_cli_start_benchmark(run_all_out):
    data = load(run_all_out / "cli_start_tiny.json")
    verbs = {"help", "queue", "runs"}
    for key in ("above_pass_s", "cpu_above_pass_s", "ratio_to_pass", "heavy_modules_imported", "met"):
        assert set(data[key]) == verbs
    assert set(data["median_s"]) >= verbs | {"pass"}
    assert set(data["floors_above_pass_s"]) == {"floor_typer", "floor_queue"}
    # not a timing: these verbs must never import torch (nor `--help` the store)
    assert all("torch" not in mods for mods in data["heavy_modules_imported"].values())
    assert "sqlmodel" not in data["heavy_modules_imported"]["runs"]
    # a shell's TAB on a job id: ids offered, and nothing heavy imported
    assert data["complete"]["offered"] > 0 and data["complete"]["heavy_modules_imported"] == []


def test_store_benchmark(run_all_out):
    data = load(run_all_out / "store_ops_tiny.json")
    assert {"enqueue_per_s", "raw_enqueue_per_s", "grid_enqueue_per_s", "claim_per_s", "raw_claim_per_s",
            "list_rows_per_s", "light_list_rows_per_s", "raw_list_rows_per_s"} == set(data["ops_per_s"])
    assert {"enqueue", "claim", "list", "light_list"} <= set(data["ratios_to_raw_sqlite"])
    assert data["check"]["each_claimed_once"] and data["check"]["jobs_listed"] == data["jobs"]


def test_dashboard_benchmark(run_all_out):
    data = load(run_all_out / "dashboard_tiny.json")
    for variant in ("aetui", "naive"):
        assert {"first_paint_s", "store_ready_s", "refresh_s", "idle_refresh_s", "refresh_rows_read"} <= set(
            data["figures"][variant])
    assert set(data["speedup_vs_naive"]) == {"first_paint", "refresh"}
    assert data["refresh_reads_only_changed_rows"] is True
    assert data["figures"]["aetui"]["idle_refresh_rows_read"] <= data["changed_rows"]


def test_run_all_writes_a_summary(run_all_out):
    data = load(run_all_out / "summary_tiny.json")
    assert data["failed"] == [] and set(data["ran"]) == set(SHARED)
    assert set(data["figures"]["cli_start"]) == {"above_pass_s", "cpu_above_pass_s"}
    assert set(data["figures"]["store_ops"]) == {"ops_per_s", "ratios_to_raw_sqlite"}
    assert set(data["figures"]["dashboard"]) == {"aetui", "speedup_vs_naive"}
