"""Training: the MSE copy task (optionally on corrupted inputs), resumable.

Data lives on the device as uint8 and batches are index slices of a seeded permutation
(no DataLoader); the loss is read back only at log steps, so there is no per-step sync.
Every state needed to resume exactly (model, optimizer, step, data order, RNG) is in
the checkpoint.
"""

from __future__ import annotations

import time
from typing import Any

from aetui.experiments import checkpoint
from aetui.experiments.bn import bn_mode
from aetui.experiments.context import JobContext, JobFailed, StopRequested
from aetui.experiments.tensorboard import hparams, image_grid, save_png, writer
from aetui.specs import TrainSpec

N_FIXED = 8  # held-out images shown in the image grids


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
            self.perm = torch.randperm(self.n, generator=self.gen).to(self.device)
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
    """Wall time spent in training steps only (excludes images, checkpoints, evaluation)."""

    def __init__(self, sync):
        self.sync, self.total, self.started = sync, 0.0, time.perf_counter()

    def pause(self) -> None:
        self.sync()
        self.total += time.perf_counter() - self.started

    def resume(self) -> None:
        self.started = time.perf_counter()


def run(spec: TrainSpec, ctx: JobContext) -> None:
    import torch
    import torch.nn.functional as F

    from aetui.corruptions import apply as corrupt
    from aetui.corruptions import parse_corruption
    from aetui.data import load_dataset, to_float
    from aetui.models import build

    t_start = time.time()
    device = torch.device(ctx.device)
    cuda = device.type == "cuda"
    torch.manual_seed(spec.seed)
    data = load_dataset(spec.data, res=spec.res, seed=spec.seed, home=ctx.home.path,
                        download=spec.download, heldout_fraction=spec.heldout_fraction)
    train, heldout = data.train.to(device), data.heldout.to(device)
    batch = min(spec.batch_size, len(train))
    model = build(spec.model, spec.res, **spec.options).to(device)
    if cuda:
        torch.backends.cudnn.benchmark = True
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr, fused=cuda)
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
    ctx.start_step, ctx.batch_size = step, batch

    fwd = torch.compile(model) if use_compile else model
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    tb = writer(ctx.run_dir, start_step=step)
    fixed = to_float(heldout[:N_FIXED])
    fixed_gen = torch.Generator(device=device).manual_seed(spec.seed + 1)
    fixed_noisy = corrupt(fixed, parse_corruption("mix:0.3"), generator=fixed_gen)

    def state_dict(at: int) -> dict[str, Any]:
        rng = {"cpu": torch.get_rng_state()}
        if cuda:
            rng["cuda"] = torch.cuda.get_rng_state()
        return {"config": config, "spec": spec.model_dump(mode="json"), "step": at, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "order": order.state(), "rng": rng,
                "wall_s": wall_before + time.time() - t_start, "train_s": train_s_before + clock.total}

    def images(at: int) -> None:
        with bn_mode(model, "train"), torch.no_grad(), \
                torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            recon = fwd(fixed).float()
            denoised = fwd(fixed_noisy).float()
        tb.add_images("images/input", fixed.clamp(0, 1), at)
        tb.add_images("images/reconstruction", recon.clamp(0, 1), at)
        tb.add_images("images/noisy_input", fixed_noisy.clamp(0, 1), at)
        tb.add_images("images/denoised", denoised.clamp(0, 1), at)
        save_png(image_grid(torch.cat([fixed, recon]), nrow=N_FIXED), ctx.artifact_path("images", f"recon_{at:08d}.png"))
        save_png(image_grid(torch.cat([fixed_noisy, denoised]), nrow=N_FIXED),
                 ctx.artifact_path("images", f"denoise_{at:08d}.png"))

    clock = Clock(sync)
    model.train()
    loss_sum = torch.zeros((), device=device)
    bad_step = torch.full((), -1, dtype=torch.long, device=device)
    window, last_loss, last_ckpt_time = 0, None, time.monotonic()
    while step < spec.steps:
        if ctx.should_stop():
            clock.pause()
            checkpoint.save_step(ckpt_dir, step, state_dict(step))
            tb.close()
            raise StopRequested(step)
        x = to_float(train[order.next()])
        if cuda:
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
        loss_d = loss.detach()
        loss_sum += loss_d
        bad_step = torch.where((bad_step < 0) & ~torch.isfinite(loss_d), step, bad_step)

        at_end = step == spec.steps
        log_now = step % spec.log_every == 0 or at_end
        images_now = step % spec.image_every == 0 or at_end
        ckpt_now = (step % spec.checkpoint_every == 0 or at_end
                    or time.monotonic() - last_ckpt_time > spec.checkpoint_minutes * 60)
        if not (log_now or images_now or ckpt_now):
            continue
        clock.pause()
        if log_now:
            if int(bad_step) >= 0:
                tb.close()
                raise JobFailed(f"diverged at step {int(bad_step)}: loss is not finite")
            last_loss = float(loss_sum) / window
            loss_sum.zero_()
            window = 0
            ips = (step - ctx.start_step) * batch / clock.total if clock.total > 0 else None
            tb.add_scalar("train/loss", last_loss, step)
            tb.add_scalar("train/lr", opt.param_groups[0]["lr"], step)
            if ips:
                tb.add_scalar("train/images_per_s", ips, step)
            ctx.progress(step, spec.steps, loss=last_loss, images_per_s=ips, force=at_end)
        if images_now:
            images(step)
        if ckpt_now and not at_end:
            checkpoint.save_step(ckpt_dir, step, state_dict(step))
            last_ckpt_time = time.monotonic()
        clock.resume()

    if step == ctx.start_step and resume_from is not None and resume_from.name == "final.pt":
        last_loss = ctx_metrics_loss(ctx)
    heldout_mse = evaluate(fwd, model, heldout, batch, use_bf16, device)
    steps_run = step - ctx.start_step
    images_per_s = steps_run * batch / clock.total if clock.total > 0 and steps_run else None
    state = state_dict(step)
    checkpoint.save(ckpt_dir / "final.pt", state)
    metrics = {
        "final_loss": last_loss, "heldout_mse": heldout_mse, "images_per_s": images_per_s,
        "steps_done": step, "wall_s": round(state["wall_s"], 3), "train_s": round(state["train_s"], 3),
        "device": str(device) if not cuda else f"cuda ({torch.cuda.get_device_name(device)})",
        "params": sum(p.numel() for p in model.parameters()), "train_images": len(train),
        "heldout_images": len(heldout), "skipped_images": data.skipped, "batch_size": batch,
        "precision": "bf16" if use_bf16 else "fp32", "compiled": bool(use_compile),
    }
    hparams(tb, {"model": spec.model, "res": spec.res, "data": spec.data, "lr": spec.lr, "batch_size": batch,
                 "steps": spec.steps, "seed": spec.seed, **spec.options},
            {"final_loss": last_loss if last_loss is not None else float("nan"), "heldout_mse": heldout_mse})
    tb.close()
    ctx.record(metrics=metrics, artifacts={
        "checkpoint": "checkpoints/final.pt", "tensorboard": "tb", "images": "images",
        "stdout": "stdout.log", "stderr": "stderr.log"})


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
