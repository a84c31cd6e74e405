"""Manifold walks: a batch of chains iterated through a trained autoencoder.

Modes (n = 0..N-1, N = steps; every chain is one image of the batch):

- `iterate`  x_{n+1} = O(x_n); the frames are x_0..x_N (the article's noise-free walk).
- `latent`   h_0 = E(x_0) + eps z, then h_{n+1} = E(D(h_n)) + eps z_n with z ~ N(0, 1);
             the frames are D(h_0)..D(h_N) (the article's walk, eps 0.2, re-encoding).
- `diffuse`  x_{n+1} = (n/N) O(x_n) + (1 - n/N) e_n with e ~ N(mu, sigma) (the article's
             linear schedule; the original 2025 code's alpha = i/20 went past 1, not here);
             the frames are the model's outputs O(x_0)..O(x_N).

x_0 is N(mu, sigma) noise (`--start noise`) or held-out images (`--start data`).

Per step the size of a chain's step is ||f_{n+1} - f_n|| (L2 over the whole image, f the
frames above); `step_size` is its mean over chains, `moving_fraction` the share of
chains whose step is above the threshold (default 1e-3 * sqrt(pixels), i.e. an RMS change
of 1e-3 per pixel): the article's "7/8 of inputs walk". Step sizes stay on the device
and are read once at the end; frames are copied off it only when saved.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterator

from aetui import run_layout
from aetui.defaults import WALK
from aetui.experiments.bn import bn_mode
from aetui.experiments.context import JobContext, JobFailed, StopRequested
from aetui.experiments.labels import labelled
from aetui.experiments.parent import heldout_images, load_parent
from aetui.experiments.tensorboard import image_grid, save_png, writer
from aetui.specs.experiments import WalkSpec

FILM_ROWS = 4  # chains shown in the filmstrip
FILM_COLUMNS = 10  # frames shown in the filmstrip
GIF_MAX_SIDE = 768  # larger frame grids are scaled down in the GIF
GIF_FRAME_MS = 120


def run(spec: WalkSpec, ctx: JobContext) -> None:
    import torch

    t_start = time.time()
    ctx.started(0)
    device = torch.device(ctx.device)
    parent = load_parent(spec, ctx)
    model, res = parent.model, parent.info.res
    gen = torch.Generator(device=device).manual_seed(spec.seed)
    x0 = start_batch(spec, parent, ctx, gen)
    threshold = spec.move_threshold or default_threshold(res)
    frame_steps = spec.frame_steps()
    film_steps = set(spread(frame_steps, FILM_COLUMNS))
    sizes = torch.zeros(spec.steps, spec.chains, device=device)
    nrow = math.ceil(math.sqrt(spec.chains))
    frames: list[str] = []
    gif: list[Any] = []
    film: list[Any] = []
    tb = writer(ctx.run_dir)
    prev = last = None
    try:
        with bn_mode(model, spec.bn), torch.no_grad():
            for n, f in enumerate(trajectory(model, spec, x0, gen)):
                if prev is not None:
                    sizes[n - 1] = (f - prev).flatten(1).norm(dim=1)
                if n in frame_steps:
                    grid = labelled(image_grid(f, nrow=nrow), title=f"step {n}/{spec.steps}")
                    name = f"frames/frame_{n:05d}.png"
                    save_png(grid, ctx.artifact_path(name))
                    frames.append(name)
                    gif.append(gif_frame(grid))
                    tb.add_image("walk/frames", grid, n)
                if n in film_steps:
                    film.append(f[:FILM_ROWS].float().cpu())
                prev = last = f
                if ctx.should_stop():
                    raise StopRequested(n)
                ctx.progress(n, spec.steps, force=n == spec.steps)
        sizes_cpu = sizes.cpu()
        bad = (~torch.isfinite(sizes_cpu)).any(1).nonzero()
        if len(bad):
            raise JobFailed(f"walk diverged at step {int(bad[0]) + 1}: values are not finite")
        moving = (sizes_cpu > threshold).float()
        step_size, moving_fraction = sizes_cpu.mean(1).tolist(), moving.mean(1).tolist()
        for n, (s, m) in enumerate(zip(step_size, moving_fraction), 1):
            tb.add_scalar("walk/step_size", s, n)
            tb.add_scalar("walk/moving_fraction", m, n)
    finally:
        tb.close()
    save_gif(gif, ctx.artifact_path("walk.gif"))
    save_png(filmstrip(film, sorted(film_steps)), ctx.artifact_path("filmstrip.png"))
    final = sizes_cpu[-1]
    results = {
        "mode": spec.mode, "steps": spec.steps, "chains": spec.chains, "start": spec.start, "bn": spec.bn,
        "eps": spec.eps, "mu": spec.mu, "sigma": spec.sigma, "every": spec.every,
        "frame_steps": frame_steps, "frame_count": len(frames), "filmstrip_steps": sorted(film_steps),
        "move_threshold": threshold, "step_size": step_size, "moving_fraction": moving_fraction,
        "final_step_size": step_size[-1], "final_moving_fraction": moving_fraction[-1],
        "moving_chains": int((final > threshold).sum()), "final_step_size_per_chain": final.tolist(),
        "value_range": [float(last.min()), float(last.max())], "model": parent.info.source,
    }
    ctx.record(
        results=results,
        metrics={"frames": len(frames), "final_step_size": step_size[-1],
                 "final_moving_fraction": moving_fraction[-1], "moving_chains": results["moving_chains"],
                 "wall_s": round(time.time() - t_start, 3)},
        artifacts={"frames": frames, "gif": "walk.gif", "filmstrip": "filmstrip.png", "tensorboard": run_layout.TB},
    )


def default_threshold(res: int) -> float:
    """A step counts as moving above an RMS change of `move_rms` (1e-3) per pixel value."""
    return WALK["move_rms"] * math.sqrt(3 * res * res)


def start_batch(spec: WalkSpec, parent, ctx: JobContext, gen):
    """x_0: N(mu, sigma) noise, or held-out images (cycled when there are fewer than chains)."""
    import torch

    res = parent.info.res
    if spec.start == "noise":
        z = torch.randn((spec.chains, 3, res, res), generator=gen, device=gen.device)
        return spec.mu + spec.sigma * z
    x = heldout_images(spec, parent.info, ctx, spec.chains)
    return x[torch.arange(spec.chains, device=x.device) % len(x)]


def trajectory(model, spec: WalkSpec, x0, gen) -> Iterator[Any]:
    """The frames f_0..f_N of the walk (see the module docstring)."""
    import torch

    def normal(like):
        return torch.randn(like.shape, generator=gen, device=like.device, dtype=like.dtype)

    n_steps = spec.steps
    if spec.mode == "iterate":
        x = x0
        yield x
        for _ in range(n_steps):
            x = model(x)
            yield x
    elif spec.mode == "latent":
        h = model.encode(x0)
        f = model.decode(h + spec.eps * normal(h))
        yield f
        for _ in range(n_steps):
            h = model.encode(f)
            f = model.decode(h + spec.eps * normal(h))
            yield f
    else:
        x = x0
        for n in range(n_steps + 1):
            f = model(x)
            yield f
            if n < n_steps:
                c = n / n_steps
                x = c * f + (1 - c) * (spec.mu + spec.sigma * normal(f))


def spread(values: list[int], count: int) -> list[int]:
    """Up to `count` values evenly picked from `values`, first and last included."""
    if len(values) <= count:
        return list(values)
    return [values[round(j * (len(values) - 1) / (count - 1))] for j in range(count)]


def gif_frame(grid):
    from PIL import Image

    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    img = Image.fromarray(arr)
    side = max(img.size)
    if side > GIF_MAX_SIDE:
        scale = GIF_MAX_SIDE / side
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    return img.convert("P", palette=Image.Palette.ADAPTIVE, colors=255)


def save_gif(frames: list[Any], path) -> None:
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=GIF_FRAME_MS, loop=0)


def filmstrip(film: list[Any], steps: list[int]):
    """One row per chain (the first few), one column per picked frame, time left to right;
    each column headed by its walk step, each row by its chain."""
    import torch

    tiles = torch.stack(film, dim=1)  # (chains, columns, 3, H, W)
    rows, cols = tiles.shape[:2]
    grid = image_grid(tiles.reshape(rows * cols, *tiles.shape[2:]), nrow=cols)
    return labelled(grid, rows=[f"chain {i + 1}" for i in range(rows)], cols=[str(s) for s in steps],
                    title="walk step")
