"""Noise sweep: how well a trained autoencoder removes a corruption it never saw, level by
level, against the same architecture untrained (the control).

For each level every held-out image x is corrupted once, x' = C(x), and passed through
the model in a few large batches (batch-norm mode as the spec says: `train`, the
article's way, normalises with the statistics of the batch). Per image, then averaged:

- input error   ||x' - x||^2 / pixels      (`input_mse`)
- output error  ||O(x') - x||^2 / pixels   (`output_mse`; the article's claim is output < input)
- copy error    ||O(x') - x'||^2 / pixels  (`copy_mse`; small when the model copies its input)
- noise gain    <O(x') - O(x), x' - x> / ||x' - x||^2  (1 for the identity, 0 for a model
  that ignores the corruption)
- PSNR of x' and of O(x') against x (peak 1), averaged in dB

`ratio` is output_mse / input_mse (below 1: the model denoises). Every level uses the
same noise draw (the seed), so the curves differ between levels only by the level.
Unlike the original code, errors are per image against its own clean image.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aetui import run_layout
from aetui.experiments.bn import bn_mode
from aetui.experiments.context import JobContext, StopRequested
from aetui.experiments.labels import labelled
from aetui.experiments.parent import fresh_model, heldout_images, load_parent
from aetui.plots import Series, line_plot
from aetui.specs.experiments import SweepSpec
from aetui.experiments.tensorboard import image_grid, save_png, writer

PSNR_CAP_DB = 100.0  # PSNR of an exact copy (MSE 0) is reported as this


def run(spec: SweepSpec, ctx: JobContext) -> None:
    from aetui.corruptions import parse_corruption

    t_start = time.time()
    ctx.started(0)
    parent = load_parent(spec, ctx)
    control = fresh_model(parent.info, ctx.device, parent.code_dir) if spec.control else None
    x = heldout_images(spec, parent.info, ctx, spec.images)
    corruption = parse_corruption(spec.noise)
    # "" is the trained model, "control_" the untrained one: the prefix of their result keys
    models = {"": parent.model, **({"control_": control} if control is not None else {})}
    clean_out = {prefix: forward(m, x, spec.bn, spec.batch_size) for prefix, m in models.items()}
    points: list[dict[str, Any]] = []
    triplets: list[str] = []
    tb = writer(ctx.run_dir)
    try:
        for i, level in enumerate(spec.levels):
            if ctx.should_stop():
                raise StopRequested(i)
            point, grid = sweep_level(spec, corruption, level, x, models, clean_out)
            points.append(point)
            triplets.append(f"triplets/level_{i:02d}.png")
            save_png(grid, ctx.artifact_path(triplets[-1]))
            log_level(tb, i, point, grid)
            ctx.progress(i + 1, len(spec.levels), force=i + 1 == len(spec.levels))
    finally:
        tb.close()
    plot_path = plot(spec, points, len(x), ctx)
    ctx.artifact_path("points.json").write_text(json.dumps(points, indent=1))
    clean = {prefix + "clean_mse": mean_mse(y, x) for prefix, y in clean_out.items()}
    ratios = [p["ratio"] for p in points if p["ratio"] is not None]
    ctx.record(
        results={"points": points, "noise": noise_text(spec.noise), "corruption": corruption.as_dict(), "bn": spec.bn,
                 "images": len(x), "batch_size": spec.batch_size, "model": parent.info.source, **clean},
        metrics={"images": len(x), "levels": len(points), "bn": spec.bn, **clean,
                 "min_ratio": min(ratios, default=None), "max_ratio": max(ratios, default=None),
                 "denoising_levels": sum(r < 1 for r in ratios), "wall_s": round(time.time() - t_start, 3)},
        artifacts={"triplets": triplets, "plot": plot_path, "points": "points.json", "tensorboard": run_layout.TB},
    )


def sweep_level(spec: SweepSpec, corruption, level: float, x, models: dict, clean_out: dict):
    """One level: its point (metrics of every model) and its triplet grid (clean /
    corrupted / trained output, one row each). Every level draws the same noise (seed)."""
    import torch

    from aetui.corruptions import apply as corrupt

    gen = torch.Generator(device=x.device).manual_seed(spec.seed)
    xc = corrupt(x, corruption, level=level, generator=gen)
    point: dict[str, Any] = {"level": level, **input_metrics(x, xc)}
    outputs = {prefix: forward(m, xc, spec.bn, spec.batch_size) for prefix, m in models.items()}
    for prefix, y in outputs.items():
        point.update({prefix + key: v for key, v in output_metrics(x, xc, y, clean_out[prefix]).items()})
    k = min(spec.samples, len(x))
    grid = image_grid(torch.cat([x[:k], xc[:k], outputs[""][:k]]), nrow=k)
    return point, labelled(grid, rows=TRIPLET_ROWS, title=level_title(spec.noise, level))


TRIPLET_ROWS = ("clean", "corrupted", "output")


def level_title(noise: str, level: float) -> str:
    """A triplet's title: the corruption and this level, e.g. `mix mu=0.7 sigma=0.2, alpha=0.3`."""
    from aetui.corruptions import CORRUPTIONS

    name = noise.partition(":")[0]
    return f"{noise_text(noise)}, {CORRUPTIONS[name].level_name}={level:g}"


def log_level(tb, i: int, point: dict[str, Any], grid) -> None:
    """TensorBoard: the level's scalars and triplet at step i (the level's index)."""
    tb.add_image("sweep/triplet", grid, i)
    for key in SCALARS:
        if point.get(key) is not None:
            tb.add_scalar(f"sweep/{key}", point[key], i)
    tb.add_scalar("sweep/level", point["level"], i)


SCALARS = ("input_mse", "output_mse", "ratio", "psnr_in", "psnr_out", "copy_mse", "noise_gain",
           "control_output_mse", "control_ratio", "control_psnr_out", "control_copy_mse", "control_noise_gain")


def forward(model, x, bn: str, batch_size: int):
    """The model's outputs for `x` in batches of at most `batch_size`, without gradients.

    The batches are of near-equal size (no small last batch): with batch statistics
    (`bn` train) every image is normalised with a batch as large as can be.
    """
    import math

    import torch

    chunks = torch.tensor_split(x, math.ceil(len(x) / batch_size))
    with bn_mode(model, bn), torch.no_grad():
        return torch.cat([model(chunk).float() for chunk in chunks])


def per_image_mse(a, b):
    return (a - b).pow(2).flatten(1).mean(1)


def mean_mse(a, b) -> float:
    return float(per_image_mse(a, b).mean())


def psnr(mse) -> float:
    """Mean over images of 10 log10(1 / MSE) (pixels in [0, 1]), capped for exact copies."""
    db = 10 * (1.0 / mse.clamp_min(10 ** (-PSNR_CAP_DB / 10))).log10()
    return float(db.mean())


def input_metrics(x, xc) -> dict[str, float]:
    mse = per_image_mse(xc, x)
    return {"input_mse": float(mse.mean()), "psnr_in": psnr(mse)}


def output_metrics(x, xc, y, y_clean) -> dict[str, float | None]:
    """Errors of outputs `y` = O(x') against the clean `x` and the corrupted `x'`."""
    inp = per_image_mse(xc, x)
    out = per_image_mse(y, x)
    noise = (xc - x).flatten(1)
    moved = (y - y_clean).flatten(1)
    power = noise.pow(2).sum(1)
    gain = (moved * noise).sum(1) / power.clamp_min(1e-12)
    input_mse, output_mse = float(inp.mean()), float(out.mean())
    return {
        "output_mse": output_mse,
        "ratio": output_mse / input_mse if input_mse > 0 else None,
        "psnr_out": psnr(out),
        "copy_mse": mean_mse(y, xc),
        "noise_gain": float(gain[power > 0].mean()) if bool((power > 0).any()) else None,
        "denoised_fraction": float((out < inp).float().mean()),
    }


def noise_text(noise: str) -> str:
    """A corruption without its level (the sweep varies it), e.g. `mix mu=0.7 sigma=0.2`."""
    from aetui.corruptions import parse_corruption

    c = parse_corruption(noise)
    return " ".join([c.name, *(f"{k}={v:g}" for k, v in c.params)])


def plot(spec: SweepSpec, points: list[dict[str, Any]], images: int, ctx: JobContext) -> str:
    """Error against level: input, trained output, control output (log scale)."""
    from aetui.corruptions import CORRUPTIONS

    name = spec.noise.partition(":")[0]
    levels = [p["level"] for p in points]
    series = [Series("input ||x'-x||^2", levels, [p["input_mse"] for p in points], dashed=True),
              Series("trained ||O(x')-x||^2", levels, [p["output_mse"] for p in points])]
    if spec.control:
        series.append(Series("untrained ||O(x')-x||^2", levels, [p["control_output_mse"] for p in points]))
    series.append(Series("trained ||O(x')-x'||^2 (copy)", levels, [p["copy_mse"] for p in points], dashed=True))
    line_plot(ctx.artifact_path("sweep.png"), series, title=f"{noise_text(spec.noise)}  (bn {spec.bn}, {images} held-out images)",
              xlabel=f"{name} {CORRUPTIONS[name].level_name}", ylabel="mean squared error per pixel")
    return "sweep.png"
