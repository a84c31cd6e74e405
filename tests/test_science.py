"""The article's findings, at small scale: tests that fail if the science is wrong.

Two small U-Nets (base width 8, depth 2, res 32) are trained once for this module on the
built-in images, one without skip connections (the article's model) and one with them.
Then, on held-out images:

- the trained model's output is closer to the clean image than its noisy input is
  (mix noise, alpha 0.3), and the untrained control's output is not;
- the U-Net with skips reproduces a corrupted input more closely than the one without,
  and passes more of the noise through;
- a walk's recorded step sizes are those of x <- O(x) recomputed here, its frames are
  the ones requested, and a latent walk without noise is the iterated walk;
- the input recovered from the trained model's output is closer to the real input than
  the one recovered from the untrained model's.

Everything runs in this process (jobs queued, then run with `run_now`), on CPU.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from aetui.home import Home

# the module's two trainings run in the first test's setup
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

TRAIN = {"model": "unet", "res": 32, "data": "builtin:256", "steps": 200, "batch_size": 16, "lr": 3e-3,
         "seed": 0, "log_every": 50, "image_every": 1000, "checkpoint_every": 1000}


def _train(home: Home, **options) -> int:
    from aetui.jobs import submit
    from aetui.worker.foreground import run_now

    (job,) = submit(home, "train", [{**TRAIN, "options": {"base_width": 8, "depth": 2, **options}}])
    assert run_now(home, job.id, device="cpu", quiet=True) == 0
    return job.id


def _run(home: Home, kind: str, target, **fields) -> dict:
    """Queue an experiment on `target`, run it here, return `aetui show --json`'s dict."""
    from aetui.jobs import job_detail, submit_experiment
    from aetui.worker.foreground import run_now

    job = submit_experiment(home, kind, fields, str(target), device="cpu")
    run_now(home, job.id, device="cpu", quiet=True)
    detail = job_detail(home, job.id)
    assert detail["status"] == "done", detail["error"]
    return detail


@pytest.fixture(scope="module")
def lab(tmp_path_factory, one_thread) -> dict:
    home = Home(tmp_path_factory.mktemp("science"))
    return {"home": home, "plain": _train(home), "skips": _train(home, skips=True)}


def _point(detail: dict, level: float) -> dict:
    return next(p for p in detail["results"]["points"] if math.isclose(p["level"], level))


def test_trained_model_denoises_and_untrained_control_does_not(lab):
    d = _run(lab["home"], "sweep", lab["plain"], noise="mix", levels="0.9,0.5,0.3", images=64)
    heavy = _point(d, 0.3)
    # the article's inequality, per image then averaged: ||O(x') - x|| < ||x' - x||
    assert heavy["output_mse"] < 0.6 * heavy["input_mse"], heavy
    assert heavy["psnr_out"] > heavy["psnr_in"] + 2
    assert heavy["denoised_fraction"] > 0.9
    # the same architecture untrained (same seed) does not denoise: far worse than its input
    assert heavy["control_output_mse"] > 2 * heavy["input_mse"], heavy
    assert heavy["control_ratio"] > 2
    # the trained model's output error hardly grows with the noise; the input error does
    light = _point(d, 0.9)
    assert heavy["input_mse"] > 20 * light["input_mse"]
    assert heavy["output_mse"] < 4 * light["output_mse"]


def test_input_error_is_the_convex_mix_error(lab):
    """x' = a x + (1-a) e, e ~ N(0.7, 0.2): E||x'-x||^2 per pixel = (1-a)^2 (0.04 + (0.7-x)^2),
    the seed note's hand check; the original code's broadcast distance would not match."""
    from aetui.data import load_dataset, to_float

    d = _run(lab["home"], "sweep", lab["plain"], noise="mix", levels="0.3", images=64, control=False)
    x = to_float(load_dataset("builtin:256", res=32, seed=0, home=lab["home"].path).heldout[:64])
    expected = float((0.49 * (0.04 + (0.7 - x) ** 2)).mean())
    assert d["results"]["images"] == len(x)
    assert _point(d, 0.3)["input_mse"] == pytest.approx(expected, rel=0.03)


def test_unet_with_skips_copies_its_corrupted_input_more_closely(lab):
    levels = "0.05,0.1,0.2"
    plain = _run(lab["home"], "sweep", lab["plain"], noise="gauss", levels=levels, images=64, control=False)
    skips = _run(lab["home"], "sweep", lab["skips"], noise="gauss", levels=levels, images=64, control=False)
    for level in (0.05, 0.1, 0.2):
        p, s = _point(plain, level), _point(skips, level)
        assert s["copy_mse"] < p["copy_mse"], (level, s, p)  # ||O(x') - x'|| smaller with skips
        assert s["noise_gain"] > 2 * p["noise_gain"], (level, s, p)  # more of the noise reaches the output


def test_walk_records_the_steps_it_takes(lab):
    import torch

    from aetui.experiments.bn import bn_mode
    from aetui.experiments.checkpoint import load_model

    d = _run(lab["home"], "walk", lab["plain"], mode="iterate", steps=30, chains=8, every=4)
    r, run_dir = d["results"], Path(d["run_dir"])
    assert r["frame_steps"] == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    assert len(d["artifacts"]["frames"]) == r["frame_count"] == 9
    assert all((run_dir / f).is_file() for f in d["artifacts"]["frames"])
    from PIL import Image

    with Image.open(run_dir / d["artifacts"]["gif"]) as gif:
        assert gif.n_frames == 9
    assert len(r["step_size"]) == len(r["moving_fraction"]) == 30
    assert all(m * 8 == round(m * 8) and 0 <= m <= 1 for m in r["moving_fraction"])
    # recompute the walk: same start (seed 0, N(0.7, 0.2)), x <- O(x) with batch statistics
    run = lab["home"].runs / str(lab["plain"])
    model, _ = load_model(run / "checkpoints" / "final.pt")
    gen = torch.Generator().manual_seed(0)
    x = 0.7 + 0.2 * torch.randn((8, 3, 32, 32), generator=gen)
    sizes = []
    with bn_mode(model, "train"), torch.no_grad():
        for _ in range(30):
            y = model(x)
            sizes.append((y - x).flatten(1).norm(dim=1))
            x = y
    assert r["step_size"] == pytest.approx([float(s.mean()) for s in sizes], rel=1e-3, abs=1e-5)
    threshold = 1e-3 * math.sqrt(3 * 32 * 32)
    assert r["move_threshold"] == pytest.approx(threshold)
    assert r["moving_fraction"] == pytest.approx([float((s > threshold).float().mean()) for s in sizes])
    assert r["moving_chains"] == int((sizes[-1] > threshold).sum())
    # the first step (noise -> the model's output) is by far the largest
    assert r["step_size"][0] > 5 * r["step_size"][-1]


def test_diffuse_and_latent_walks_follow_their_schedule(lab):
    d = _run(lab["home"], "walk", lab["plain"], mode="diffuse", steps=20, chains=4)
    r = d["results"]
    assert r["every"] == 1 and r["frame_count"] == 21 and len(r["step_size"]) == 20
    # the frames are model outputs: with the linear schedule the last input is mostly the
    # model's own output, so the last outputs stay in the image range
    assert -0.5 < r["value_range"][0] and r["value_range"][1] < 1.5
    # without latent noise, h <- E(D(h)) is x <- O(x) one step behind: frame n of the latent
    # walk is frame n+1 of the iterated one (same start images, same batch statistics)
    iterate = _run(lab["home"], "walk", lab["plain"], mode="iterate", steps=10, chains=4, start="data")
    still = _run(lab["home"], "walk", lab["plain"], mode="latent", steps=10, chains=4, start="data", eps=0.0)
    assert still["results"]["step_size"][:9] == pytest.approx(iterate["results"]["step_size"][1:], rel=1e-4)
    noisy = _run(lab["home"], "walk", lab["plain"], mode="latent", steps=10, chains=4, start="data")
    assert noisy["results"]["eps"] == 0.2 and noisy["results"]["frame_count"] == 11
    assert noisy["results"]["step_size"][:9] != pytest.approx(iterate["results"]["step_size"][1:], rel=1e-2)


def test_probe_trained_representation_is_closer_to_the_input(lab):
    d = _run(lab["home"], "probe", lab["plain"], iters=150, lr=0.3, images=4)
    r = d["results"]
    assert r["layer"] == "output" and r["layer_shape"] == [3, 32, 32]
    assert r["trained_mse"] < 0.75 * r["start_mse"], r
    assert r["trained_mse"] < 0.75 * r["untrained_mse"], r
    run_dir = Path(d["run_dir"])
    assert all((run_dir / name).is_file() for name in d["artifacts"]["images"])
