"""Run every benchmark, one after another (never two at once: they would slow each other),
and write `summary.json` beside their own JSON files with the figures that matter.

    python benchmarks/run_all.py                  # `make bench`: the CPU benchmarks, and gpu.sh when CUDA is here
    python benchmarks/run_all.py --tiny           # seconds each: checks that they all run
    python benchmarks/run_all.py --only cli_start,store_ops --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, out_dir, say, write_result  # noqa: E402

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("train", "cli_start", "store_ops", "dashboard", "gpu")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", help=f"comma list of {', '.join(BENCHMARKS)}")
    p.add_argument("--tiny", action="store_true", help="tiny sizes: checks that every benchmark runs")
    p.add_argument("--threads", type=int, help="torch CPU threads for the training benchmark")
    p.add_argument("--out", help="folder for the JSON files (default: $OUT, else benchmarks/results)")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    out = out_dir(args.out)
    common = ["--out", str(out)] + (["--tiny"] if args.tiny else [])

    ran, failed, skipped = {}, [], []
    for name in names:
        if name == "gpu":
            if not args.tiny and not cuda_available():
                skipped.append("gpu (no CUDA device here)")
                continue
            cmd = ["bash", str(HERE / "gpu.sh")] + (["--tiny"] if args.tiny else [])
            env_out = {"OUT": str(out)}
        else:
            cmd = [sys.executable, str(HERE / f"{name}.py"), *common]
            if name == "train" and args.threads:
                cmd += ["--threads", str(args.threads)]
            env_out = {}
        say(f"=== {name}: {' '.join(cmd)}")
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env={**os.environ, **env_out})
        ran[name] = {"seconds": round(time.perf_counter() - t0, 1), "exit": proc.returncode}
        if proc.returncode != 0:
            failed.append(name)

    summary = {"ran": ran, "failed": failed, "skipped": skipped,
               "figures": figures(out, [n for n in ran if n not in failed], args.tiny)}
    path = write_result("summary", summary, str(out), tiny=args.tiny)
    say(json.dumps(summary["figures"], indent=2))
    say(f"wrote {path}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def cuda_available() -> bool:
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def figures(out: Path, names: list[str], tiny: bool) -> dict:
    """The headline figures of each benchmark's JSON file."""
    suffix = "_tiny" if tiny else ""

    def load(stem: str) -> dict | None:
        path = out / f"{stem}{suffix}.json"
        return json.loads(path.read_text()) if path.exists() else None

    fig: dict = {}
    for name in names:
        stems = {"train": ("train_cpu", "train_cuda"), "gpu": ("gpu",)}.get(name, (name,))
        for stem in stems:
            data = load(stem)
            if data is None:
                continue
            if "configs" in data:
                fig[stem] = {c["config"]: {"images_per_s": c["images_per_s"], "ratios": c["ratios"],
                                           **({"mfu": c["mfu"]} if c.get("mfu") else {})}
                             for c in data["configs"]}
            elif name == "cli_start":
                fig[name] = {"above_pass_s": data["above_pass_s"], "cpu_above_pass_s": data["cpu_above_pass_s"]}
            elif name == "store_ops":
                fig[name] = {"ops_per_s": data["ops_per_s"], "ratios_to_raw_sqlite": data["ratios_to_raw_sqlite"]}
            elif name == "dashboard":
                fig[name] = {"aetui": data["figures"]["aetui"], "speedup_vs_naive": data["speedup_vs_naive"]}
    return fig


if __name__ == "__main__":
    sys.exit(main())
