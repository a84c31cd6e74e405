"""Representation probe: what a layer's output says about the input.

For held-out images x, the target is a layer's output L(x). Starting from an input
z_0 ~ N(0.7, 0.05), plain gradient descent on the input minimises the L1 distance
0.005 * sum |L(z) - L(x)| (the original code's loss and scale; lr 0.1, 500 steps). The
result z is the input "as the layer sees it"; its mean squared distance to x says how
much of the input the layer keeps. Done for the trained model and for the same
architecture untrained (same seed), all images in one batch.

Batch norm defaults to `eval`, as in the original probe script: in train mode the
first conv + batch norm make a layer blind to any affine change of the whole input
(a*z + b), so z could match the target while far from x.
"""

from __future__ import annotations

import time
from typing import Any

from aetui import run_layout
from aetui.experiments.bn import bn_mode
from aetui.experiments.context import JobContext, StopRequested
from aetui.experiments.parent import fresh_model, heldout_images, load_parent
from aetui.specs.experiments import ProbeSpec
from aetui.experiments.labels import labelled
from aetui.experiments.tensorboard import image_grid, save_png, writer

START_MU, START_SIGMA = 0.7, 0.05  # the start input, as the original (randn / 20 + 0.7)
LOSS_SCALE = 0.005  # the original code's weight of the summed L1 distance
LOG_POINTS = 100  # loss values logged per model


class _Reached(Exception):
    """Raised by the hook to skip the layers after the probed one."""


class LayerTap:
    """Captures one layer's output; with `stop`, ends the forward pass right there."""

    def __init__(self, module, stop: bool):
        self.out = None
        self.stop = stop
        self.handle = module.register_forward_hook(self._hook)

    def _hook(self, _module, _inputs, output) -> None:
        self.out = output
        if self.stop:
            raise _Reached

    def __call__(self, model, x):
        try:
            model(x)
        except _Reached:
            pass
        return self.out

    def close(self) -> None:
        self.handle.remove()


def run(spec: ProbeSpec, ctx: JobContext) -> None:
    import torch

    t_start = time.time()
    ctx.started(0)
    device = torch.device(ctx.device)
    parent = load_parent(spec, ctx)
    control = fresh_model(parent.info, ctx.device, parent.code_dir)
    x = heldout_images(spec, parent.info, ctx, spec.images)
    gen = torch.Generator(device=device).manual_seed(spec.seed)
    z0 = START_MU + START_SIGMA * torch.randn(x.shape, generator=gen, device=device)
    tb = writer(ctx.run_dir)
    found: dict[str, Any] = {}
    try:
        for k, (which, model) in enumerate((("trained", parent.model), ("untrained", control))):
            def report(it: int, loss: float | None, _which=which, _k=k) -> None:
                if loss is not None:
                    tb.add_scalar(f"probe/{_which}_loss", loss, it)
                if ctx.should_stop():
                    raise StopRequested(_k * spec.iters + it)
                ctx.progress(_k * spec.iters + it, spec.steps, force=it == spec.iters and _k == 1)

            found[which] = reconstruct(model, spec, x, z0, report)
    finally:
        tb.close()
    start = per_image_mse(z0, x)
    results: dict[str, Any] = {
        "layer": spec.layer, "layer_shape": found["trained"]["shape"], "iters": spec.iters, "lr": spec.lr,
        "bn": spec.bn, "images": len(x), "loss_scale": LOSS_SCALE, "model": parent.info.source,
        "start_mse": float(start.mean()), "start_mse_per_image": start.tolist(),
    }
    for which, r in found.items():
        d = per_image_mse(r["z"], x)
        results.update({f"{which}_mse": float(d.mean()), f"{which}_mse_per_image": d.tolist(),
                        f"{which}_final_loss": r["loss"], f"{which}_value_range": r["range"]})
    names = save_images(ctx, x, found["trained"]["z"], found["untrained"]["z"])
    ctx.record(
        results=results,
        metrics={"trained_mse": results["trained_mse"], "untrained_mse": results["untrained_mse"],
                 "start_mse": results["start_mse"], "images": len(x), "wall_s": round(time.time() - t_start, 3)},
        artifacts={"images": names, "tensorboard": run_layout.TB},
    )


def per_image_mse(a, b):
    return (a - b).pow(2).flatten(1).mean(1)


def reconstruct(model, spec: ProbeSpec, x, z0, report) -> dict[str, Any]:
    """Gradient descent on the input to match the layer's output for `x`.

    Returns the input found (`z`), the final loss per image, the layer's output shape
    and z's value range. `report(iteration, loss or None)` is called every iteration.
    """
    import torch

    from aetui.models.custom import probe_layers

    layers = probe_layers(model)  # the model's own, and `output` (the whole model) on every model
    names = list(layers)
    tap = LayerTap(layers[spec.layer], stop=spec.layer != names[-1])
    model.requires_grad_(False)
    log_every = max(1, spec.iters // LOG_POINTS)
    n = len(x)
    try:
        with bn_mode(model, spec.bn):
            with torch.no_grad():
                target = tap(model, x).detach()
            z = z0.clone()
            loss = None
            for it in range(1, spec.iters + 1):
                z.requires_grad_(True)
                loss = LOSS_SCALE * (tap(model, z) - target).abs().sum()
                (grad,) = torch.autograd.grad(loss, z)
                z = (z - spec.lr * grad).detach()
                logged = it % log_every == 0 or it == spec.iters
                report(it, float(loss.detach()) / n if logged else None)
            with torch.no_grad():
                final = LOSS_SCALE * (tap(model, z) - target).abs().flatten(1).sum(1)
    finally:
        tap.close()
    return {"z": z, "loss": final.tolist(), "shape": list(target.shape[1:]),
            "range": [float(z.min()), float(z.max())]}


def save_images(ctx: JobContext, x, trained, untrained) -> list[str]:
    """probe.png: rows input / trained / untrained; and each row on its own."""
    import torch

    n = len(x)
    save_png(labelled(image_grid(torch.cat([x, trained, untrained]), nrow=n), rows=("input", "trained", "untrained")),
             ctx.artifact_path("probe.png"))
    names = ["probe.png"]
    for name, batch in (("input", x), ("trained", trained), ("untrained", untrained)):
        save_png(image_grid(batch, nrow=n), ctx.artifact_path(f"probe_{name}.png"))
        names.append(f"probe_{name}.png")
    return names
