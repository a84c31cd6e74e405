"""Training: the MSE copy task (optionally on corrupted inputs), resumable.

Data lives on the device as uint8 and batches are index slices of a seeded permutation
(no DataLoader); the loss is read back only at log steps, so there is no per-step sync.
Every state needed to resume exactly (model, optimizer, step, data order, RNG) is in
the checkpoint.

One attempt, top to bottom (`_train`): `setup` loads the data, builds the model and the
optimizer, resumes from the newest checkpoint and opens the TensorBoard writer; the loop
runs `training_step` and, at their steps, `log`, `log_images` and `save_checkpoint`;
`stop` saves and leaves when the job is asked to stop; `finish` evaluates, saves
`final.pt` and records the run. Running out of memory is `aetui.experiments.oom`'s:
it fails the job clearly or, with `oom_retry`, queues it once more at half the batch.
A full disk fails the job with where it was full and the last good checkpoint
(`aetui.experiments.disk_full`). No path writes a checkpoint of non-finite weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aetui import run_layout
from aetui.experiments import checkpoint
from aetui.experiments.bn import bn_mode
from aetui.experiments.context import JobContext, JobFailed, StopRequested
from aetui.experiments.disk_full import disk_full, no_space
from aetui.experiments.labels import labelled
from aetui.experiments.oom import fail_or_retry, is_out_of_memory, with_fake_oom
from aetui.experiments.tensorboard import hparams, image_grid, save_png, writer
from aetui.run_layout import RunLayout
from aetui.run_owner import CHECKPOINT_KEY, check_checkpoint
from aetui.specs import TrainSpec

N_FIXED = 8  # held-out images shown in the image grids
FIXED_NOISE = "mix:0.3"  # the corruption of the denoising grid's inputs
RECON_ROWS = ("input", "output")  # the row labels of the image grids
DENOISE_ROWS = ("clean", "corrupted", "output")
HELDOUT_TAG = "heldout/mse"  # the held-out MSE curve in TensorBoard


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


class LossWindow:
    """The losses of the steps since the last log step, kept on the device: one copy a step,
    no sync. Their sum is read back at log and checkpoint steps; it is non-finite iff some
    step's loss was, and only then are the steps searched."""

    def __init__(self, size: int, device):
        import torch

        self.losses = torch.zeros(size, device=device)
        self.n = 0

    def add(self, loss) -> None:
        self.losses[self.n] = loss
        self.n += 1

    def clear(self) -> None:
        self.n = 0


@dataclass
class Training:
    """One attempt: what `setup` built, and the step the loop has reached."""

    spec: TrainSpec
    ctx: JobContext
    dp: Any  # `Solo` or `Group` (aetui.experiments.distributed): this process's part of the job
    device: Any  # torch.device
    data: Any  # the loaded dataset (for its counts)
    train: Any  # uint8 images on the device
    heldout: Any
    batch: int  # the global batch: each rank takes batch / world of it
    model: Any  # the plain module: checkpoints, images and evaluation use it
    fwd: Any  # what the training step calls: `model`, in DDP and/or compiled
    opt: Any
    order: DataOrder
    noise: Any  # the parsed `train_noise` corruption, or None
    channels_last: bool
    use_bf16: bool
    use_compile: bool
    ckpt_dir: Path
    resumed_from: Path | None  # the checkpoint this attempt started from
    step: int
    wall_before: float  # wall and training seconds of the earlier attempts
    train_s_before: float
    t_start: float
    tb: Any  # TensorBoard writer (a NullWriter on every rank but 0)
    fixed: Any  # held-out images shown in the grids, clean and corrupted
    fixed_noisy: Any
    clock: Clock
    first_step: int  # the first step of this attempt compiles/autotunes: timed apart
    warmup_s: float = 0.0
    last_ckpt_time: float = 0.0  # time.monotonic() of the last checkpoint (or the start)
    last_loss: float | None = None  # the loss of the last log step (kept in checkpoints)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def checkpoint_overdue(self) -> bool:
        """`checkpoint_minutes` have passed since the last checkpoint."""
        return time.monotonic() - self.last_ckpt_time > self.spec.checkpoint_minutes * 60


def run(spec: TrainSpec, ctx: JobContext) -> None:
    """Train; out of memory fails the job clearly or retries it at half the batch. A job on
    several devices runs this in one process per device (`aetui.experiments.distributed`)."""
    from aetui.experiments.distributed import joined

    with joined(spec.sync_bn, ctx.device) as dp:
        try:
            _train(spec, ctx, dp)
        except Exception as e:
            if is_out_of_memory(e):
                fail_or_retry(spec, ctx)
            full = no_space(e)
            if full is None:
                raise
            raise disk_full(full, ctx.run_dir, last_good_step(RunLayout.at(ctx.run_dir).checkpoints), ctx.job_id) from e


def _train(spec: TrainSpec, ctx: JobContext, dp=None) -> None:
    from aetui.experiments.distributed import Solo

    t = setup(spec, ctx, dp or Solo())  # a no-op `Solo` when this process is the whole job
    train_step = with_fake_oom(training_step(t), t.batch)  # the hook only when a test asks for it
    window = LossWindow(max(1, min(spec.log_every, spec.steps - t.step)), t.device)
    while t.step < spec.steps:
        if t.dp.should_stop(ctx.should_stop, t.checkpoint_overdue()):
            stop(t, window)
        window.add(train_step())
        t.step += 1
        if t.step == t.first_step:
            t.ctx.progress(t.step, spec.steps, force=True)  # the first step ran: no phase any more
            t.warmup_s = t.clock.restart()

        at_end = t.step == spec.steps
        log_now = t.step % spec.log_every == 0 or at_end
        images_now = t.step % spec.image_every == 0 or at_end
        eval_now = t.step % spec.eval_every == 0 and not at_end  # `finish` evaluates the last step
        ckpt_now = t.step % spec.checkpoint_every == 0 or at_end or t.dp.due(t.checkpoint_overdue())
        if not (log_now or images_now or ckpt_now or eval_now):
            continue
        t.clock.pause()
        if log_now or ckpt_now:  # never checkpoint a diverged model
            loss = window_loss(t, window)
        if log_now:
            t.last_loss = loss
            window.clear()
            log(t, loss, at_end)
        if images_now:
            log_images(t)
        if eval_now:
            log_heldout(t)
        if ckpt_now and not at_end:
            save_checkpoint(t)
        t.clock.resume()
    finish(t)


# ------------------------------------------------------------------ set-up and resume

def setup(spec: TrainSpec, ctx: JobContext, dp) -> Training:
    """Data, model, optimizer and data order, resumed from the newest checkpoint; the
    TensorBoard writer and the images shown in the grids. Tells the store the start step."""
    import torch

    from aetui.corruptions import apply as corrupt
    from aetui.corruptions import parse_corruption
    from aetui.data import load_dataset, to_float

    t_start = time.time()
    device = torch.device(ctx.device)
    cuda = device.type == "cuda"
    torch.manual_seed(spec.seed)
    layout = RunLayout.at(ctx.run_dir)
    ctx.phase("preparing data")  # the table says what happens before the first step
    data = load_dataset(spec.data, res=spec.res, seed=spec.seed, home=ctx.home.path,
                        download=spec.download, heldout_fraction=spec.heldout_fraction,
                        code_dir=layout.code_dir("data"),
                        progress=lambda done, total: ctx.phase("preparing data", done, total))
    train, heldout = data.train.to(device), data.heldout.to(device)
    batch = dp.global_batch(min(spec.batch_size, len(train)))  # each rank takes batch / world of it
    ctx.phase("building the model")
    model, channels_last = build_model(spec, device, layout.code_dir("model"))
    if spec.custom:  # your own model: it must be an autoencoder; what it offers goes to its run
        from aetui.models.custom import check_output, offers

        check_output(model, to_float(heldout[:2]), spec.model)
        if dp.main:
            ctx.record(results={"model": offers(model)})
    # fused Adam: one kernel for all parameters (on CPU ~5x faster than the foreach default)
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr, fused=device.type in ("cuda", "cpu"))
    order = DataOrder(len(train), batch, spec.seed, device)

    ckpt_dir = RunLayout.at(ctx.run_dir).checkpoints
    if dp.main:  # the temp files of writes a kill interrupted
        checkpoint.remove_leftovers(ckpt_dir)
    found = checkpoint.newest_loadable(ckpt_dir, map_location=str(device))
    if found is not None:
        check_checkpoint(found.state, found.path, ctx.job_uid, ctx.job_id)  # never another job's weights
    resumed_from = found.path if found else None
    step, wall_before, train_s_before = resume(found.state if found else None, model, opt, order, device)
    note = found.fallback_note() if found else None
    if note and dp.main:  # say so: in the job's log and with its run's metrics
        print(f"aetui: {note}", flush=True)
        ctx.record(metrics={"checkpoint_fallback": note})
    dp.seed(spec.seed, step)  # several ranks: a noise stream each
    ctx.batch_size = batch
    ctx.started(step)

    use_compile = spec.compile if spec.compile is not None else cuda
    fwd = dp.wrap(model, spec.sync_bn)  # `model` stays the plain module (checkpoints, images, evaluation)
    if use_compile:
        fwd = torch.compile(fwd)
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    tb = dp.writer(lambda: writer(ctx.run_dir, start_step=step))  # rank 0 writes TensorBoard and files
    fixed = to_float(heldout[:N_FIXED])
    fixed_gen = torch.Generator(device=device).manual_seed(spec.seed + 1)
    fixed_noisy = corrupt(fixed, parse_corruption(FIXED_NOISE), generator=fixed_gen)
    clock = Clock(sync)
    model.train()
    use_bf16 = spec.precision == "bf16" or (spec.precision == "auto" and cuda)
    if dp.main:
        print(model_summary(spec, model, device, use_bf16, use_compile, batch, len(train), len(heldout)), flush=True)
    ctx.phase("compiling (first step)" if use_compile else "first step")
    return Training(
        spec=spec, ctx=ctx, dp=dp, device=device, data=data, train=train, heldout=heldout, batch=batch,
        model=model, fwd=fwd, opt=opt, order=order,
        noise=parse_corruption(spec.train_noise) if spec.train_noise else None, channels_last=channels_last,
        use_bf16=use_bf16, use_compile=use_compile,
        ckpt_dir=ckpt_dir, resumed_from=resumed_from, step=step, wall_before=wall_before,
        train_s_before=train_s_before, t_start=t_start, tb=tb, fixed=fixed, fixed_noisy=fixed_noisy,
        clock=clock, first_step=step + 1, last_ckpt_time=time.monotonic(),
        last_loss=found.state.get("loss") if found else None)


def model_summary(spec: TrainSpec, model, device, use_bf16: bool, use_compile: bool, batch: int,
                  train_images: int, heldout_images: int) -> str:
    """The job log's first word on the model: what it is, its size, where and how it runs."""
    params = sum(p.numel() for p in model.parameters())
    options = " ".join(f"{k}={v}" for k, v in spec.options.items())
    return (f"aetui: model {spec.model} res{spec.res}{' ' + options if options else ''}: {params:,} parameters; "
            f"device {device}; precision {'bf16' if use_bf16 else 'fp32'}; compiled {'yes' if use_compile else 'no'}; "
            f"batch {batch}; {train_images} train / {heldout_images} held-out images ({spec.data})")


def build_model(spec: TrainSpec, device, code_dir: Path | None = None) -> tuple[Any, bool]:
    """The model on the device, and whether it runs channels_last. Your own model is
    built from its snapshot in `code_dir`."""
    import torch

    from aetui.models import build

    model = build(spec.model, spec.res, code_dir=code_dir, **spec.options).to(device)
    # channels_last speeds up convolutions on CUDA and CPU alike; an MLP would only pay a copy
    channels_last = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return model, channels_last


def resume(state: dict[str, Any] | None, model, opt, order: DataOrder, device) -> tuple[int, float, float]:
    """Load a checkpoint's model, optimizer, data order and RNG states; returns its step and
    the wall and training seconds before it ((0, 0.0, 0.0) without one)."""
    import torch

    if state is None:
        return 0, 0.0, 0.0
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    order.load(state["order"])
    torch.set_rng_state(state["rng"]["cpu"])
    if device.type == "cuda" and "cuda" in state["rng"]:
        torch.cuda.set_rng_state(state["rng"]["cuda"])
    return int(state["step"]), float(state["wall_s"]), float(state["train_s"])


def state_dict(t: Training) -> dict[str, Any]:
    """Everything a resume needs, and the config and spec that describe the run."""
    import torch

    rng = {"cpu": torch.get_rng_state()}
    if t.cuda:
        rng["cuda"] = torch.cuda.get_rng_state()
    spec = t.spec
    config = {"name": spec.model, "res": spec.res, "options": dict(spec.options)}
    if spec.custom:  # which snapshot rebuilds it (by sha256), and what it offers
        from aetui.models.custom import offers

        config.update(code=spec.code.get("model"), offers=offers(t.model))
    return {"config": config,
            "spec": spec.model_dump(mode="json"), "step": t.step, "model": t.model.state_dict(),
            "optimizer": t.opt.state_dict(), "order": t.order.state(), "rng": rng,
            "wall_s": t.wall_before + time.time() - t.t_start,
            "train_s": t.train_s_before + t.warmup_s + t.clock.total, "loss": t.last_loss,
            CHECKPOINT_KEY: t.ctx.job_uid}


# ------------------------------------------------------------------ one step

def training_step(t: Training) -> Callable[[], Any]:
    """One optimizer step on the next batch; returns its loss, still on the device."""
    import torch
    import torch.nn.functional as F

    from aetui.corruptions import apply as corrupt
    from aetui.data import to_float

    train, shard, order, fwd, opt = t.train, t.dp.shard, t.order, t.fwd, t.opt
    noise, channels_last, device_type, use_bf16 = t.noise, t.channels_last, t.device.type, t.use_bf16

    def step():
        x = to_float(train[shard(order.next())])
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        inp = corrupt(x, noise) if noise is not None else x
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=use_bf16):
            out = fwd(inp)
        loss = F.mse_loss(out.float(), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    return step


# ------------------------------------------------------------------ log, images, checkpoints

def window_loss(t: Training, window: LossWindow) -> float:
    """The mean loss of the window (over the ranks, too); JobFailed at the first step whose
    loss is not finite."""
    import torch

    losses = t.dp.average(window.losses[:window.n])  # several ranks: the mean of their shares' losses
    loss = float(losses.sum()) / window.n
    if not math.isfinite(loss):
        bad = (~torch.isfinite(losses)).nonzero()
        if len(bad):
            t.tb.close()
            raise JobFailed(f"diverged at step {t.step - window.n + 1 + int(bad[0])}: loss is not finite")
    return loss


def log(t: Training, loss: float, at_end: bool) -> None:
    ips = images_rate(t.step - t.first_step, t.batch, t.clock.total)
    t.tb.add_scalar("train/loss", loss, t.step)
    t.tb.add_scalar("train/lr", t.opt.param_groups[0]["lr"], t.step)
    if ips:
        t.tb.add_scalar("train/images_per_s", ips, t.step)
    if t.dp.main:  # the Log tab's record of the curve
        print(f"step {t.step}/{t.spec.steps}  loss {loss:.5g}" + (f"  {ips:.0f} img/s" if ips else ""), flush=True)
    t.ctx.progress(t.step, t.spec.steps, loss=loss, images_per_s=ips, force=at_end)


def log_heldout(t: Training) -> None:
    """The held-out MSE now, as a TensorBoard curve (`heldout/mse`): whether the model
    still generalises while the training loss falls. Rank 0 alone evaluates (running
    batch-norm statistics: no collective), as `finish` does."""
    if t.dp.main:
        t.tb.add_scalar(HELDOUT_TAG, evaluate(t.model, t.model, t.heldout, t.batch // t.dp.world, t.use_bf16,
                                              t.device), t.step)


def log_images(t: Training) -> None:
    """Reconstructions of the fixed held-out images, clean and corrupted: TensorBoard and PNGs."""
    import torch

    # the eager model: compiling no-grad (and, in `evaluate`, eval-mode and partial-batch)
    # graphs would cost more compilations than these few forward passes take
    fixed, fixed_noisy, at, tb = t.fixed, t.fixed_noisy, t.step, t.tb
    with bn_mode(t.model, "train"), torch.no_grad(), \
            torch.autocast(t.device.type, dtype=torch.bfloat16, enabled=t.use_bf16):
        recon = t.model(fixed).float()
        denoised = t.model(fixed_noisy).float()
    tb.add_images("images/input", fixed.clamp(0, 1), at)
    tb.add_images("images/reconstruction", recon.clamp(0, 1), at)
    tb.add_images("images/noisy_input", fixed_noisy.clamp(0, 1), at)
    tb.add_images("images/denoised", denoised.clamp(0, 1), at)
    if not t.dp.main:  # every rank runs the forward passes (SyncBatchNorm syncs them), one writes
        return
    n = len(fixed)
    save_png(labelled(image_grid(torch.cat([fixed, recon]), nrow=n), rows=RECON_ROWS, title=f"step {at}"),
             t.ctx.artifact_path(run_layout.IMAGES, f"recon_{at:08d}.png"))
    save_png(labelled(image_grid(torch.cat([fixed, fixed_noisy, denoised]), nrow=n), rows=DENOISE_ROWS,
                      title=f"step {at}, corrupted with {FIXED_NOISE}"),
             t.ctx.artifact_path(run_layout.IMAGES, f"denoise_{at:08d}.png"))


def save_checkpoint(t: Training) -> None:
    ensure_finite(t)
    t.tb.flush()  # the curve up to this step is on disk before the checkpoint that resumes it
    if t.dp.main:
        checkpoint.save_step(t.ckpt_dir, t.step, state_dict(t))
    t.last_ckpt_time = time.monotonic()


def stop(t: Training, window: LossWindow) -> None:
    """Asked to stop: save this step's state (unless the newest checkpoint holds it) and leave.
    A model that diverged since the last log step fails here, as it would have there."""
    t.clock.pause()
    if t.step > t.ctx.start_step:  # else the newest checkpoint already holds this state
        if window.n:
            window_loss(t, window)
        ensure_finite(t)
        if t.dp.main:
            t.tb.flush()
            checkpoint.save_step(t.ckpt_dir, t.step, state_dict(t))
    t.tb.close()
    raise StopRequested(t.step)


def ensure_finite(t: Training) -> None:
    """JobFailed unless every weight is finite: a diverged model is never checkpointed. The
    loss check at log steps misses a step whose update made the weights non-finite, and
    runs at no other step. Every rank checks (their weights are the same), so all fail together."""
    import torch

    values = [v for v in t.model.state_dict().values() if v.is_floating_point()]
    if values and not bool(torch.stack([torch.isfinite(v).all() for v in values]).all()):
        t.tb.close()
        raise JobFailed(f"diverged by step {t.step}: the weights are not finite")


def last_good_step(ckpt_dir: Path) -> int:
    """The step of the newest checkpoint that loads (0 without one): where a retry resumes."""
    try:
        found = checkpoint.newest_loadable(ckpt_dir)
    except checkpoint.CheckpointError:
        return 0
    return int(found.state["step"]) if found else 0


def finish(t: Training) -> None:
    """Rank 0 evaluates, saves the final checkpoint and records the run's summary metrics."""
    import torch

    ensure_finite(t)  # on every rank, so that all of them fail together
    if not t.dp.main:
        t.tb.close()
        return
    spec, ctx, step, batch, clock = t.spec, t.ctx, t.step, t.batch, t.clock
    last_loss = t.last_loss
    if last_loss is None and step == ctx.start_step and t.resumed_from is not None \
            and t.resumed_from.name == run_layout.FINAL:  # a final checkpoint older than its "loss"
        last_loss = ctx_metrics_loss(ctx)
    heldout_mse = evaluate(t.model, t.model, t.heldout, batch // t.dp.world, t.use_bf16, t.device)
    # steady throughput: the first step (compilation, autotuning) is reported as compile_s
    images_per_s = (images_rate(step - t.first_step, batch, clock.total)
                    or images_rate(step - ctx.start_step, batch, t.warmup_s))
    t.tb.add_scalar(HELDOUT_TAG, heldout_mse, step)  # the curve's last point is the recorded metric
    state = state_dict(t)
    t.tb.flush()
    checkpoint.save(t.ckpt_dir / run_layout.FINAL, state)
    metrics = {
        "final_loss": last_loss, "heldout_mse": heldout_mse, "images_per_s": images_per_s,
        "steps_done": step, "wall_s": round(state["wall_s"], 3), "train_s": round(state["train_s"], 3),
        "device": str(t.device) if not t.cuda else f"cuda ({torch.cuda.get_device_name(t.device)})",
        "params": sum(p.numel() for p in t.model.parameters()), "train_images": len(t.train),
        "heldout_images": len(t.heldout), "skipped_images": t.data.skipped, "batch_size": batch,
        "precision": "bf16" if t.use_bf16 else "fp32", "compiled": bool(t.use_compile),
        "first_step_s": round(t.warmup_s, 3), "compile_s": round(t.warmup_s, 3) if t.use_compile else None,
        "cpu_busy": round(clock.cpu / clock.total, 3) if clock.total > 0 and step > t.first_step else None,
        **t.dp.metrics(),
    }
    hparams(t.tb, {"model": spec.model, "res": spec.res, "data": spec.data, "lr": spec.lr, "batch_size": batch,
                   "steps": spec.steps, "seed": spec.seed, **spec.options},
            {"final_loss": last_loss if last_loss is not None else float("nan"), "heldout_mse": heldout_mse})
    t.tb.close()
    ctx.record(metrics=metrics, artifacts=dict(run_layout.TRAIN_ARTIFACTS))


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
