"""Training throughput (images/s): aetui's trainer against two plain loops, same model, data, device.

Variants, run in interleaved rounds in one process (medians reported):

- aetui: the real trainer. Each round queues a job in a temporary home and runs it with
  `aetui.worker.foreground.run_now`, which claims it and calls the same `execute` as the
  worker's child process, so `aetui.experiments.train.run` runs exactly as for a user.
  Its figure is the job's own `images_per_s` metric: wall time of the training steps
  after the first one (the first step, compilation included, is `compile_s`); image
  grids, checkpoints and evaluation at the end are not training steps.
- article: the plain loop of the original article's code: a DataLoader over a float32
  TensorDataset on the host (shuffle off, last partial batch dropped), each batch copied
  to the device, fp32, eager, default Adam, `loss.item()` every step.
- hand: the best plain loop written by hand: float32 data already on the device, batches
  sliced from a device permutation, channels_last for convolutional models, fused Adam,
  `zero_grad(set_to_none=True)`, the loss read back every 25 steps; on CUDA also bf16
  autocast, cudnn.benchmark and torch.compile (unless --no-compile).

The baselines skip as many warm-up steps as the trainer does (one). All variants use the
same images: built-in images generated once and saved as `npy:` data (the path that
CIFAR-10 and LSUN churches at 64 take too). The U-Net's model FLOP utilisation uses the
FLOPs of one forward and backward pass counted by `torch.utils.flop_counter`.

    python benchmarks/train.py                     # CPU: small U-Net and MLP
    python benchmarks/train.py --device cuda       # GPU: unet --res 64 and mlp --res 32
    python benchmarks/train.py --tiny              # seconds: checks that it runs
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, paired_ratio, ratio, rounds, say, write_result  # noqa: E402

WARMUP = 1  # steps before timing starts; the trainer times its first step apart as compile_s
LOG_EVERY = 25  # the hand loop reads its loss back this often; the trainer's default log interval

CONFIGS: dict[str, dict[str, Any]] = {
    # the article's models at the sizes of the GPU targets
    "unet64": {"model": "unet", "res": 64, "options": {}, "batch": 128, "images": 4096},
    "mlp32": {"model": "mlp", "res": 32, "options": {}, "batch": 512, "images": 8192},
    # sizes a 2-core CPU trains at a few steps a second
    "unet32-small": {"model": "unet", "res": 32, "options": {"base_width": 8, "depth": 2}, "batch": 32,
                     "images": 640},
    "mlp32-small": {"model": "mlp", "res": 32, "options": {"width": 512, "hidden_layers": 3}, "batch": 64,
                    "images": 1280},
    # seconds in all: checks that the benchmark runs
    "tiny-unet": {"model": "unet", "res": 32, "options": {"base_width": 4, "depth": 2}, "batch": 8, "images": 48},
    "tiny-mlp": {"model": "mlp", "res": 32, "options": {"width": 32, "hidden_layers": 1}, "batch": 8, "images": 48},
}
DEFAULTS = {"cuda": ["unet64", "mlp32"], "cpu": ["unet32-small", "mlp32-small"], "tiny": ["tiny-unet", "tiny-mlp"]}

# dense bf16 tensor-core peaks (TFLOP/s), most specific name first
PEAK_BF16_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4), ("GH200", 989.4),
                    ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.1), ("L4", 121.0), ("A10G", 70.0)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--configs", help=f"comma list of {', '.join(CONFIGS)}")
    p.add_argument("--steps", type=int, help="timed steps per variant and round (default: cpu 30, cuda 100)")
    p.add_argument("--repeats", type=int, help="interleaved rounds (default: cpu 7, cuda 3)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    p.add_argument("--no-compile", action="store_true", help="eager on CUDA too (trainer: --no-compile)")
    p.add_argument("--peak-tflops", type=float, help="the card's dense bf16 peak, for MFU (default: by name)")
    p.add_argument("--tiny", action="store_true", help="tiny models, 3 steps, 1 round")
    p.add_argument("--budget-s", type=float, help="start no new round after this many seconds in all")
    p.add_argument("--name", help="result file name (default: train_<device type>)")
    p.add_argument("--out", help="folder for the JSON (default: $OUT, else benchmarks/results)")
    args = p.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda:0" if args.device in ("auto", "cuda") and torch.cuda.is_available() else
                          "cpu" if args.device in ("auto", "cpu") else args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        p.error("CUDA is not available here")
    kind = "tiny" if args.tiny else device.type
    names = args.configs.split(",") if args.configs else DEFAULTS[kind]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        p.error(f"unknown config(s) {unknown}; known: {', '.join(CONFIGS)}")
    steps = args.steps or (3 if args.tiny else 100 if device.type == "cuda" else 30)
    repeats = args.repeats or (1 if args.tiny else 3 if device.type == "cuda" else 7)
    compile_ = device.type == "cuda" and not args.no_compile
    peak = args.peak_tflops or peak_tflops(device)

    started = time.perf_counter()
    results: list[dict[str, Any]] = []

    def save() -> Path:  # after every config, so a run cut short still leaves its figures
        data = {
            "device": str(device) if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(device)})",
            "compile": compile_, "steps": steps, "warmup_steps": WARMUP, "repeats": repeats,
            "threads": torch.get_num_threads(), "peak_bf16_tflops": peak,
            "targets": {"cpu": "aetui >= 0.97 x hand", "cuda": "aetui >= 3 x article for unet64 and mlp32"},
            "configs": results, "met": targets_met(results, device.type, args.tiny),
            "complete": len(results) == len(names), "seconds": round(time.perf_counter() - started, 1),
        }
        return write_result(args.name or f"train_{device.type}", data, args.out, tiny=args.tiny)

    with tempfile.TemporaryDirectory(prefix="aetui-bench-") as tmp:
        for i, name in enumerate(names):
            say(f"== {name} on {device}: {steps} steps x {repeats} rounds")
            deadline = None
            if args.budget_s:  # what is left, shared by the configs still to run
                deadline = time.perf_counter() + (args.budget_s - (time.perf_counter() - started)) / (len(names) - i)
            results.append(bench_config(name, CONFIGS[name], device, steps, repeats, compile_, peak, Path(tmp),
                                        deadline))
            path = save()
    for r in results:
        say(f"{r['config']}: images/s {r['images_per_s']}  aetui/article {r['ratios']['aetui_vs_article']}"
            f"  aetui/hand {r['ratios']['aetui_vs_hand']}  (CPU time: {r['cpu_ratios']['aetui_vs_article']},"
            f" {r['cpu_ratios']['aetui_vs_hand']})" + (f"  MFU {r['mfu']}" if r.get("mfu") else ""))
    say(f"wrote {path}")
    return 0


def bench_config(name: str, cfg: dict[str, Any], device, steps: int, repeats: int, compile_: bool,
                 peak: float | None, tmp: Path, deadline: float | None = None) -> dict[str, Any]:
    import torch

    from aetui.data import load_dataset

    npy = make_data(cfg, tmp / f"{name}.npy")
    data = load_dataset(f"npy:{npy}", res=cfg["res"], home=tmp).train
    batch = min(cfg["batch"], len(data))
    home = tmp / f"home-{name}"
    aetui_metrics: list[dict[str, Any]] = []

    def aetui_variant() -> float:
        metrics = run_aetui(cfg, npy, batch, device, steps, compile_, home)
        aetui_metrics.append(metrics)
        return metrics["images_per_s"]

    variants = {
        "aetui": aetui_variant,
        "article": article_loop(cfg, data, batch, device, steps),
        "hand": hand_loop(cfg, data, batch, device, steps, compile_),
    }
    samples = rounds(variants, repeats, log=say, deadline=deadline)
    ips = {k: round(median(v), 2) for k, v in samples.items()}
    # images per CPU-second of the process (the trainer's own `cpu_busy` metric gives its share):
    # on a loaded machine wall time also counts waits for a core, CPU time does not
    cpu = {"aetui": [m["images_per_s"] / m["cpu_busy"] for m in aetui_metrics if m.get("cpu_busy")],
           "article": variants["article"].per_cpu_s, "hand": variants["hand"].per_cpu_s}
    gflop = gflop_per_image(cfg)
    out = {
        "config": name, "model": cfg["model"], "res": cfg["res"], "options": cfg["options"], "batch": batch,
        "train_images": len(data), "params": aetui_metrics[-1].get("params"),
        "images_per_s": ips, "samples": {k: [round(x, 2) for x in v] for k, v in samples.items()},
        # medians over rounds of each round's ratio; `ratios_of_medians` divides the medians above
        "ratios": {"aetui_vs_article": paired_ratio(samples["aetui"], samples["article"]),
                   "aetui_vs_hand": paired_ratio(samples["aetui"], samples["hand"]),
                   "hand_vs_article": paired_ratio(samples["hand"], samples["article"])},
        "ratios_of_medians": {"aetui_vs_article": ratio(ips["aetui"], ips["article"]),
                              "aetui_vs_hand": ratio(ips["aetui"], ips["hand"]),
                              "hand_vs_article": ratio(ips["hand"], ips["article"])},
        "images_per_cpu_s": {k: round(median(v), 2) if v else None for k, v in cpu.items()},
        "cpu_ratios": {"aetui_vs_article": paired_ratio(cpu["aetui"], cpu["article"]),
                       "aetui_vs_hand": paired_ratio(cpu["aetui"], cpu["hand"]),
                       "hand_vs_article": paired_ratio(cpu["hand"], cpu["article"])},
        "aetui_cpu_busy": median([m["cpu_busy"] for m in aetui_metrics if m.get("cpu_busy")]),
        "gflop_per_image": round(gflop, 3),
        "aetui_compile_s": median([m["compile_s"] for m in aetui_metrics if m.get("compile_s") is not None]),
        "aetui_first_step_s": median([m["first_step_s"] for m in aetui_metrics if m.get("first_step_s") is not None]),
        "aetui_precision": aetui_metrics[-1].get("precision"), "aetui_compiled": aetui_metrics[-1].get("compiled"),
        "hand_compile_s": variants["hand"].first_step_s,
    }
    if peak:
        out["mfu"] = {k: round(gflop * v / (peak * 1e3), 4) for k, v in ips.items()}
    del variants
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def make_data(cfg: dict[str, Any], path: Path) -> Path:
    """Built-in images, generated once and saved as uint8 N x H x W x C (`npy:` data)."""
    import numpy as np

    from aetui.data.builtin import generate

    np.save(path, generate(cfg["images"], cfg["res"], 0))
    return path


def run_aetui(cfg: dict[str, Any], npy: Path, batch: int, device, steps: int, compile_: bool,
              home_path: Path) -> dict[str, Any]:
    """Queue a training job and run it as `aetui demo` and `--now` do; its recorded metrics."""
    from aetui.home import Home
    from aetui.jobs import submit
    from aetui.worker.execute import EXIT_DONE
    from aetui.worker.foreground import run_now
    from aetui.run_owner import resolve
    from store import queries

    home = Home.resolve(home_path)
    total = WARMUP + steps
    spec = {"model": cfg["model"], "res": cfg["res"], "options": dict(cfg["options"]), "data": f"npy:{npy}",
            "steps": total, "batch_size": batch, "log_every": LOG_EVERY, "image_every": total,
            "checkpoint_every": total, "checkpoint_minutes": 60 * 24 * 365, "compile": compile_}  # no timed checkpoint (a year is the most a spec takes)
    (job,) = submit(home, "train", [spec])
    dev = "cuda:0" if device.type == "cuda" else "cpu"
    code = run_now(home, job.id, device=dev, quiet=True)
    run = queries.get_run(home.db, job.id)
    if code != EXIT_DONE:
        raise RuntimeError(f"aetui job {job.id} ended with code {code}: {queries.get_job(home.db, job.id).error}")
    shutil.rmtree(resolve(home.path, run.run_dir), ignore_errors=True)  # checkpoints of the big MLP are ~1 GB
    return dict(run.metrics)


class Loop:
    """A plain training loop built once; each call times `steps` steps after WARMUP and returns
    images/s (and appends images per CPU-second of this process to `per_cpu_s`)."""

    def __init__(self, step: Callable[[], None], batch: int, steps: int, sync: Callable[[], None]):
        self.step, self.batch, self.steps, self.sync = step, batch, steps, sync
        self.first_step_s: float | None = None
        self.per_cpu_s: list[float] = []

    def __call__(self) -> float:
        t0 = time.perf_counter()
        for _ in range(WARMUP):
            self.step()
        self.sync()
        if self.first_step_s is None:
            self.first_step_s = round(time.perf_counter() - t0, 3)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(self.steps):
            self.step()
        self.sync()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        self.per_cpu_s.append(self.steps * self.batch / cpu)
        return self.steps * self.batch / wall


def _sync(device) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def article_loop(cfg: dict[str, Any], data, batch: int, device, steps: int) -> Loop:
    """The original article's loop (undercomplete_autoencoder.py, unet_noresiduals.py)."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from aetui.models import build

    torch.manual_seed(0)
    model = build(cfg["model"], cfg["res"], **cfg["options"]).to(device)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.MSELoss()
    loader = DataLoader(TensorDataset(data.float() / 255), batch_size=batch, shuffle=False, drop_last=True)
    state = {"it": iter(()), "total": 0.0}

    def step() -> None:
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = False  # the article's code never set it (the trainer does)
        batch_ = next(state["it"], None)
        if batch_ is None:
            state["it"] = iter(loader)
            batch_ = next(state["it"])
        x = batch_[0].to(device)
        opt.zero_grad()
        out = model(x)
        loss = loss_fn(out, x)
        loss.backward()
        opt.step()
        state["total"] += loss.item()

    return Loop(step, batch, steps, _sync(device))


def hand_loop(cfg: dict[str, Any], data, batch: int, device, steps: int, compile_: bool) -> Loop:
    """The best plain loop written by hand (see the module docstring)."""
    import torch
    import torch.nn.functional as F

    from aetui.models import build

    torch.manual_seed(0)
    cuda = device.type == "cuda"
    model = build(cfg["model"], cfg["res"], **cfg["options"]).to(device)
    conv = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    fmt = torch.channels_last if conv else torch.contiguous_format
    model = model.to(memory_format=fmt)
    model.train()
    xs = (data.to(device).float() / 255).contiguous(memory_format=fmt)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    fwd = torch.compile(model) if compile_ else model
    n = len(xs)
    state = {"perm": torch.randperm(n, device=device), "pos": 0, "count": 0, "loss": None}
    acc = torch.zeros((), device=device)

    def step() -> None:
        if cuda:
            torch.backends.cudnn.benchmark = True
        if state["pos"] + batch > n:
            state["perm"], state["pos"] = torch.randperm(n, device=device), 0
        x = xs[state["perm"][state["pos"]:state["pos"] + batch]]
        state["pos"] += batch
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            out = fwd(x)
        loss = F.mse_loss(out.float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        acc.add_(loss.detach())
        state["count"] += 1
        if state["count"] % LOG_EVERY == 0:
            state["loss"] = float(acc) / LOG_EVERY
            acc.zero_()

    return Loop(step, batch, steps, _sync(device))


def gflop_per_image(cfg: dict[str, Any]) -> float:
    """FLOPs of one forward and backward pass per image, counted on the meta device."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from aetui.models import build

    with torch.device("meta"):
        model = build(cfg["model"], cfg["res"], **cfg["options"])
        x = torch.rand(2, 3, cfg["res"], cfg["res"])
        with FlopCounterMode(display=False) as counter:
            F.mse_loss(model(x), x).backward()
    return counter.get_total_flops() / 2 / 1e9


def peak_tflops(device) -> float | None:
    import torch

    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), None)


def targets_met(results: list[dict[str, Any]], device_type: str, tiny: bool) -> dict[str, Any]:
    """The issue's targets, where this run measures them (tiny runs check only that it runs)."""
    if tiny:
        return {}
    if device_type == "cpu":
        return {r["config"]: {"wall_time": (r["ratios"]["aetui_vs_hand"] or 0) >= 0.97,
                              "cpu_time": (r["cpu_ratios"]["aetui_vs_hand"] or 0) >= 0.97} for r in results}
    return {r["config"]: (r["ratios"]["aetui_vs_article"] or 0) >= 3.0
            for r in results if r["config"] in ("unet64", "mlp32")}


if __name__ == "__main__":
    sys.exit(main())
