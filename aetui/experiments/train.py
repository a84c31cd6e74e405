"""Training: the MSE copy task (optionally on corrupted inputs), resumable.

Data lives on the device as uint8 and batches are index slices of a seeded permutation
(no DataLoader); the loss is read back only at log steps, so there is no per-step sync.
Every state needed to resume exactly (model, optimizer, step, data order, RNG) is in
the checkpoint.

Running out of memory (`torch.cuda.OutOfMemoryError`, or a RuntimeError that says
"out of memory") fails the job with the batch size and the memory numbers, or, when
the spec has `oom_retry`, queues it once more at half the batch; it resumes from its
last checkpoint. Test-only hook: the environment variable `AETUI_FAKE_OOM_AT_BATCH=N`
raises `torch.cuda.OutOfMemoryError` at the first step of a batch of N or more, so that
this path runs in tests without a GPU; the handling is the same code as a real OOM.
"""

from __future__ import annotations

import math
import time
from typing import Any

from aetui.experiments import checkpoint
from aetui.experiments.bn import bn_mode
from aetui.experiments.context import JobContext, JobFailed, StopRequested
from aetui.experiments.tensorboard import hparams, image_grid, save_png, writer
from aetui.specs import TrainSpec

N_FIXED = 8  # held-out images shown in the image grids
FAKE_OOM_ENV = "AETUI_FAKE_OOM_AT_BATCH"  # test-only, see the module docstring


class DataOrder:
    """Seeded epoch permutations on the device; drops the last partial batch."""

    def __init__(self, n: int, batch: int, seed: int, device):
        import torch

        self.n, self.batch, self.device = n, batch, device
        self.gen = torch.Generator().manual_seed(seed)
        self.perm = None
        self.pos = 0

    def next(self):
        import torch

        if self.perm is None or self.pos + self.batch > self.n:
            perm = torch.randperm(self.n, generator=self.gen)
            if torch.device(self.device).type == "cuda":  # from pinned memory: no wait for the GPU
                perm = perm.pin_memory()
            self.perm = perm.to(self.device, non_blocking=True)
            self.pos = 0
        idx = self.perm[self.pos:self.pos + self.batch]
        self.pos += self.batch
        return idx

    def state(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state(), "perm": None if self.perm is None else self.perm.cpu(), "pos": self.pos}

    def load(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.perm = None if state["perm"] is None else state["perm"].to(self.device)
        self.pos = int(state["pos"])


class Clock:
    """Wall time spent in training steps only (excludes images, checkpoints, evaluation),
    and the process's CPU time in them: `cpu / total` near the thread count means the loop
    is CPU-bound (on a GPU: launch-bound), near 0 that it waits for the device."""

    def __init__(self, sync):
        self.sync, self.total, self.cpu = sync, 0.0, 0.0
        self.resume()

    def pause(self) -> None:
        self.sync()
        self.total += time.perf_counter() - self.started
        self.cpu += time.process_time() - self.cpu_started

    def resume(self) -> None:
        self.started, self.cpu_started = time.perf_counter(), time.process_time()

    def restart(self) -> float:
        """Start counting afresh (after the first step); the wall time counted so far."""
        self.pause()
        counted, self.total, self.cpu = self.total, 0.0, 0.0
        self.resume()
        return counted


def run(spec: TrainSpec, ctx: JobContext) -> None:
    """Train; out of memory fails the job clearly or retries it at half the batch. A job on
    several devices runs this in one process per device (`aetui.experiments.distributed`)."""
    from aetui.experiments.distributed import joined

    with joined(spec.sync_bn, ctx.device) as dp:
        try:
            _train(spec, ctx, dp)
        except Exception as e:
            if not is_out_of_memory(e):
                raise
            _out_of_memory(spec, ctx)


def is_out_of_memory(e: BaseException) -> bool:
    import torch

    text = str(e).lower()
    return isinstance(e, torch.cuda.OutOfMemoryError) or (
        isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text))


def _out_of_memory(spec: TrainSpec, ctx: JobContext) -> None:
    from aetui.experiments.context import RetryJob
    from store.queries import get_run

    batch = ctx.batch_size or spec.batch_size
    what = f"{'CUDA ' if ctx.device.startswith('cuda') else ''}out of memory at batch size {batch}: {memory_numbers(ctx.device)}"
    run = get_run(ctx.home.db, ctx.job_id)
    retried = run is not None and "oom_retry" in run.metrics
    half = batch // 2 - (batch // 2) % spec.gpus  # still split evenly over the devices
    if spec.oom_retry and half >= 1 and not retried:
        ctx.record(metrics={"oom_retry": {"from_batch_size": batch, "to_batch_size": half, "error": what}})
        raise RetryJob(f"{what}; retrying once with batch size {half} (--oom-retry)", {"batch_size": half})
    hint = "already retried at half the batch" if retried else "lower --batch-size, or queue with --oom-retry"
    raise JobFailed(f"{what} ({hint})")


def memory_numbers(device: str) -> str:
    """Free and total memory of a CUDA device and this process's peak use, in GiB."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return f"no CUDA memory numbers on {device}"
    gib = 1024 ** 3
    try:
        free, total = torch.cuda.mem_get_info(device)
        peak, reserved = torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)
        name = torch.cuda.get_device_name(device)
    except RuntimeError as e:  # the device may be in a bad state after the failure
        return f"memory numbers unavailable ({str(e).splitlines()[0][:200]})"
    return (f"this job peaked at {peak / gib:.2f} GiB allocated ({reserved / gib:.2f} GiB reserved); "
            f"{free / gib:.2f} GiB free of {total / gib:.2f} GiB on {name}")


def _fake_oom_batch() -> int | None:
    import os

    value = os.environ.get(FAKE_OOM_ENV)
    return int(value) if value else None


def _train(spec: TrainSpec, ctx: JobContext, dp=None) -> None:
    import torch
    import torch.nn.functional as F

    from aetui.corruptions import apply as corrupt
    from aetui.corruptions import parse_corruption
    from aetui.data import load_dataset, to_float
    from aetui.experiments.distributed import Solo
    from aetui.models import build

    dp = dp or Solo()  # this process's part of a data-parallel job: a no-op alone
    t_start = time.time()
    device = torch.device(ctx.device)
    cuda = device.type == "cuda"
    torch.manual_seed(spec.seed)
    data = load_dataset(spec.data, res=spec.res, seed=spec.seed, home=ctx.home.path,
                        download=spec.download, heldout_fraction=spec.heldout_fraction)
    train, heldout = data.train.to(device), data.heldout.to(device)
    batch = dp.global_batch(min(spec.batch_size, len(train)))  # each rank takes batch / world of it
    model = build(spec.model, spec.res, **spec.options).to(device)
    # channels_last speeds up convolutions on CUDA and CPU alike; an MLP would only pay a copy
    channels_last = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if cuda:
        torch.backends.cudnn.benchmark = True
    # fused Adam: one kernel for all parameters (on CPU ~5x faster than the foreach default)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr, fused=device.type in ("cuda", "cpu"))
    order = DataOrder(len(train), batch, spec.seed, device)
    noise = parse_corruption(spec.train_noise) if spec.train_noise else None
    use_bf16 = spec.precision == "bf16" or (spec.precision == "auto" and cuda)
    use_compile = spec.compile if spec.compile is not None else cuda
    config = {"name": spec.model, "res": spec.res, "options": dict(spec.options)}

    ckpt_dir = ctx.run_dir / "checkpoints"
    step, wall_before, train_s_before = 0, 0.0, 0.0
    resume_from = checkpoint.latest(ckpt_dir)
    if resume_from is not None:
        state = checkpoint.load(resume_from, map_location=str(device))
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        order.load(state["order"])
        torch.set_rng_state(state["rng"]["cpu"])
        if cuda and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"])
        step = int(state["step"])
        wall_before, train_s_before = float(state["wall_s"]), float(state["train_s"])
    dp.seed(spec.seed, step)  # several ranks: a noise stream each
    ctx.batch_size = batch
    ctx.started(step)

    ddp = dp.wrap(model, spec.sync_bn)  # `model` stays the plain module (checkpoints, images, evaluation)
    fwd = torch.compile(ddp) if use_compile else ddp
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    tb = dp.writer(lambda: writer(ctx.run_dir, start_step=step))  # rank 0 writes TensorBoard and files
    fixed = to_float(heldout[:N_FIXED])
    fixed_gen = torch.Generator(device=device).manual_seed(spec.seed + 1)
    fixed_noisy = corrupt(fixed, parse_corruption("mix:0.3"), generator=fixed_gen)

    def state_dict(at: int) -> dict[str, Any]:
        rng = {"cpu": torch.get_rng_state()}
        if cuda:
            rng["cuda"] = torch.cuda.get_rng_state()
        return {"config": config, "spec": spec.model_dump(mode="json"), "step": at, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "order": order.state(), "rng": rng,
                "wall_s": wall_before + time.time() - t_start, "train_s": train_s_before + warmup_s + clock.total}

    def images(at: int) -> None:
        # the eager model: compiling no-grad (and, in `evaluate`, eval-mode and partial-batch)
        # graphs would cost more compilations than these few forward passes take
        with bn_mode(model, "train"), torch.no_grad(), \
                torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            recon = model(fixed).float()
            denoised = model(fixed_noisy).float()
        tb.add_images("images/input", fixed.clamp(0, 1), at)
        tb.add_images("images/reconstruction", recon.clamp(0, 1), at)
        tb.add_images("images/noisy_input", fixed_noisy.clamp(0, 1), at)
        tb.add_images("images/denoised", denoised.clamp(0, 1), at)
        if not dp.main:  # every rank runs the forward passes (SyncBatchNorm syncs them), one writes
            return
        save_png(image_grid(torch.cat([fixed, recon]), nrow=len(fixed)), ctx.artifact_path("images", f"recon_{at:08d}.png"))
        save_png(image_grid(torch.cat([fixed_noisy, denoised]), nrow=len(fixed)),
                 ctx.artifact_path("images", f"denoise_{at:08d}.png"))

    clock = Clock(sync)
    model.train()
    # the losses since the last log step stay on the device (one copy a step, no sync); their sum
    # is read back at log and checkpoint steps: non-finite iff some step's was, only then searched
    losses = torch.zeros(max(1, min(spec.log_every, spec.steps - step)), device=device)
    first_step, warmup_s = step + 1, 0.0  # the first step compiles/autotunes: timed apart
    window, last_loss, last_ckpt_time = 0, None, time.monotonic()
    fake_oom = _fake_oom_batch()
    while step < spec.steps:
        if dp.should_stop(ctx.should_stop, time.monotonic() - last_ckpt_time > spec.checkpoint_minutes * 60):
            clock.pause()
            if step > ctx.start_step and dp.main:  # else the newest checkpoint already holds this state
                tb.flush()
                checkpoint.save_step(ckpt_dir, step, state_dict(step))
            tb.close()
            raise StopRequested(step)
        if fake_oom is not None and batch >= fake_oom:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory ({FAKE_OOM_ENV}={fake_oom} test hook)")
        x = to_float(train[dp.shard(order.next())])
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        inp = corrupt(x, noise) if noise is not None else x
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            out = fwd(inp)
        loss = F.mse_loss(out.float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        window += 1
        losses[window - 1] = loss.detach()
        if step == first_step:
            warmup_s = clock.restart()

        at_end = step == spec.steps
        log_now = step % spec.log_every == 0 or at_end
        images_now = step % spec.image_every == 0 or at_end
        ckpt_now = (step % spec.checkpoint_every == 0 or at_end
                    or dp.due(time.monotonic() - last_ckpt_time > spec.checkpoint_minutes * 60))
        if not (log_now or images_now or ckpt_now):
            continue
        clock.pause()
        if log_now or ckpt_now:  # never checkpoint a diverged model
            window_losses = dp.average(losses[:window])  # several ranks: the mean of their shares' losses
            window_loss = float(window_losses.sum()) / window
            if not math.isfinite(window_loss):
                bad = (~torch.isfinite(window_losses)).nonzero()
                if len(bad):
                    tb.close()
                    raise JobFailed(f"diverged at step {step - window + 1 + int(bad[0])}: loss is not finite")
        if log_now:
            last_loss = window_loss
            window = 0
            ips = images_rate(step - first_step, batch, clock.total)
            tb.add_scalar("train/loss", last_loss, step)
            tb.add_scalar("train/lr", opt.param_groups[0]["lr"], step)
            if ips:
                tb.add_scalar("train/images_per_s", ips, step)
            ctx.progress(step, spec.steps, loss=last_loss, images_per_s=ips, force=at_end)
        if images_now:
            images(step)
        if ckpt_now and not at_end:
            tb.flush()  # the curve up to this step is on disk before the checkpoint that resumes it
            if dp.main:
                checkpoint.save_step(ckpt_dir, step, state_dict(step))
            last_ckpt_time = time.monotonic()
        clock.resume()

    if not dp.main:  # rank 0 evaluates, saves the final checkpoint and records the run
        tb.close()
        return
    if step == ctx.start_step and resume_from is not None and resume_from.name == "final.pt":
        last_loss = ctx_metrics_loss(ctx)
    heldout_mse = evaluate(model, model, heldout, batch // dp.world, use_bf16, device)
    # steady throughput: the first step (compilation, autotuning) is reported as compile_s
    images_per_s = (images_rate(step - first_step, batch, clock.total)
                    or images_rate(step - ctx.start_step, batch, warmup_s))
    state = state_dict(step)
    tb.flush()
    checkpoint.save(ckpt_dir / "final.pt", state)
    metrics = {
        "final_loss": last_loss, "heldout_mse": heldout_mse, "images_per_s": images_per_s,
        "steps_done": step, "wall_s": round(state["wall_s"], 3), "train_s": round(state["train_s"], 3),
        "device": str(device) if not cuda else f"cuda ({torch.cuda.get_device_name(device)})",
        "params": sum(p.numel() for p in model.parameters()), "train_images": len(train),
        "heldout_images": len(heldout), "skipped_images": data.skipped, "batch_size": batch,
        "precision": "bf16" if use_bf16 else "fp32", "compiled": bool(use_compile),
        "first_step_s": round(warmup_s, 3), "compile_s": round(warmup_s, 3) if use_compile else None,
        "cpu_busy": round(clock.cpu / clock.total, 3) if clock.total > 0 and step > first_step else None,
        **dp.metrics(),
    }
    hparams(tb, {"model": spec.model, "res": spec.res, "data": spec.data, "lr": spec.lr, "batch_size": batch,
                 "steps": spec.steps, "seed": spec.seed, **spec.options},
            {"final_loss": last_loss if last_loss is not None else float("nan"), "heldout_mse": heldout_mse})
    tb.close()
    ctx.record(metrics=metrics, artifacts={
        "checkpoint": "checkpoints/final.pt", "tensorboard": "tb", "images": "images",
        "stdout": "stdout.log", "stderr": "stderr.log"})


def images_rate(steps: int, batch: int, seconds: float) -> float | None:
    return steps * batch / seconds if steps > 0 and seconds > 0 else None


def ctx_metrics_loss(ctx: JobContext) -> float | None:
    """A job resumed after it had already finished keeps the loss it recorded."""
    from store.queries import get_run

    run = get_run(ctx.home.db, ctx.job_id)
    return run.metrics.get("final_loss") if run else None


def evaluate(fwd, model, heldout, batch: int, use_bf16: bool, device) -> float:
    """Mean MSE of reconstructions of the held-out images (running batch-norm statistics)."""
    import torch
    import torch.nn.functional as F

    from aetui.data import to_float

    total, count = torch.zeros((), device=device), 0
    with bn_mode(model, "eval"), torch.no_grad(), \
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
        for i in range(0, len(heldout), batch):
            x = to_float(heldout[i:i + batch])
            total += F.mse_loss(fwd(x).float(), x, reduction="sum")
            count += x.numel()
    return float(total) / max(count, 1)
