"""The experiment verbs as a user drives them: sweep, walk, probe on a finished training
job or on a checkpoint file; bad input; what `show --json`, the run folder and
TensorBoard hold afterwards.

One tiny model is trained once for the module (a few steps: these tests check paths and
records, not science; tests/test_science.py checks the science).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aetui.home import Home
from tests.conftest import ROOT, aetui_proc, cli_env

TINY_TRAIN = {"model": "unet", "res": 32, "data": "builtin:32", "steps": 4, "batch_size": 8,
              "options": {"base_width": 4, "depth": 2}, "log_every": 2, "image_every": 100, "checkpoint_every": 100}
POINT_KEYS = {"level", "input_mse", "output_mse", "ratio", "psnr_in", "psnr_out", "control_output_mse",
              "control_ratio", "copy_mse", "noise_gain"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory, one_thread) -> dict:
    """A home with one finished tiny training job (run in this process)."""
    from aetui.jobs import submit
    from aetui.worker.foreground import run_now

    import contextlib
    import io

    home = Home(tmp_path_factory.mktemp("experiments"))
    (job,) = submit(home, "train", [TINY_TRAIN])
    out = io.StringIO()  # what the job prints (to stderr in the foreground; a worker's job log)
    with contextlib.redirect_stderr(out):
        assert run_now(home, job.id, device="cpu", quiet=True) == 0
    return {"home": home, "train": job.id, "final": home.runs / str(job.id) / "checkpoints" / "final.pt",
            "train_log": out.getvalue()}


def label_bands(path: Path, bare: tuple[int, int]):
    """The bands a labelled picture has around its bare image grid of size `bare` (width,
    height; the grid sits bottom right): (left band, top band) as pixel arrays."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as img:
        arr = np.asarray(img.convert("L"))
    left, top = arr.shape[1] - bare[0], arr.shape[0] - bare[1]
    assert left >= 0 and top >= 0, (arr.shape, bare)
    return arr[:, :left], arr[:top, :]


def has_text(band) -> bool:
    """Dark pixels on the white band: something is written there."""
    return band.size > 0 and int(band.min()) < 100


def cli(home: Home, *args: str):
    """The real `aetui` app, in this process (no torch import per call)."""
    from aetui.cli import app

    return CliRunner().invoke(app, [*args, "--home", str(home.path)])


def cli_json(home: Home, *args: str):
    import json

    result = cli(home, *args, "--json")
    assert result.exit_code == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def job_count(home: Home) -> int:
    from store import queries

    return len(queries.list_jobs(home.db))


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of a run's TensorBoard events, read back with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def save_checkpoint(path: Path, *, spec: bool = True, **options) -> Path:
    """A plain checkpoint of an untrained tiny U-Net (config + weights, optionally its spec)."""
    import torch

    from aetui.experiments import checkpoint
    from aetui.models import build

    model = build("unet", 32, base_width=4, depth=2, **options)
    state = {"config": model.config, "model": model.state_dict()}
    if spec:
        state["spec"] = {"model": "unet", "res": 32, "data": "builtin:32", "seed": 0, "options": model.config["options"]}
    checkpoint.save(path, state)
    assert torch.load(path, weights_only=True)["config"]["name"] == "unet"
    return path


class NotPlain:
    """Pickled into a checkpoint file, it makes the file refuse a weights_only load."""


@pytest.mark.parametrize("verb", ["sweep", "walk", "probe"])
def test_every_experiment_verb_has_help_with_an_example(lab, verb):
    out = cli(lab["home"], verb, "--help").stdout
    for flag in ("Example", "--json", "--home", "--now", "--priority", "--device", "JOB_ID|CHECKPOINT"):
        assert flag in out, (verb, flag)


def test_layer_names_without_torch_match_the_models():
    from aetui.specs import layer_names
    from aetui.models import build

    configs = [("mlp", 8, {"width": 16, "hidden_layers": 3}), ("unet", 32, {"base_width": 4, "depth": 2}),
               ("unet", 32, {"base_width": 4, "depth": 3, "bottleneck": "linear:10"}),
               ("unet", 32, {"base_width": 4, "depth": 2, "skips": True}),
               ("attn-unet", 32, {"base_width": 8, "depth": 2})]
    for name, res, options in configs:
        assert layer_names(name, options) == list(build(name, res, **options).probe_layers()), name


def test_sweep_now_json_results_artifacts_and_tensorboard(lab):
    h = lab["home"]
    d = cli_json(h, "sweep", str(lab["train"]), "--levels", "0.5,0.3", "--images", "6", "--now")
    assert d["kind"] == "sweep" and d["status"] == "done" and d["parent_id"] == lab["train"]
    points = d["results"]["points"]
    assert [p["level"] for p in points] == [0.5, 0.3]
    assert all(POINT_KEYS <= set(p) for p in points)
    assert d["results"]["images"] == 3  # builtin:32 holds out 3 images
    assert d["spec"]["bn"] == "train" and d["results"]["bn"] == "train"
    run_dir = Path(d["run_dir"])
    assert d["artifacts"]["triplets"] == ["triplets/level_00.png", "triplets/level_01.png"]
    for name in [*d["artifacts"]["triplets"], d["artifacts"]["plot"], d["artifacts"]["points"]]:
        assert (run_dir / name).is_file(), name
    from PIL import Image

    with Image.open(run_dir / d["artifacts"]["triplets"][0]) as img:  # rows clean / corrupted / output
        assert img.width > 3 * 33 + 1 and img.height > 3 * 33 + 1  # labels left, the noise level on top
    rows, title = label_bands(run_dir / d["artifacts"]["triplets"][0], (3 * 33 + 1, 3 * 33 + 1))
    assert has_text(rows) and has_text(title)
    shown = cli_json(h, "show", str(d["id"]))
    assert shown["results"]["points"] == points
    assert shown["points"] == points  # also at the top level, for sweeps
    human = cli(h, "show", str(d["id"]))  # the same table people see after `--now`
    assert human.exit_code == 0, human.stderr
    table = human.stdout[human.stdout.index("results"):human.stdout.index("attempts")]
    assert "in mse" in table and "ctrl ratio" in table
    assert [line.split()[0] for line in table.splitlines() if line.strip()[:1].isdigit()] == ["0.5", "0.3"]
    tb = scalars(run_dir)
    for key in ("input_mse", "output_mse", "ratio", "psnr_in", "psnr_out", "control_output_mse", "control_ratio"):
        assert [step for step, _ in tb[f"sweep/{key}"]] == [0, 1]
        assert [v for _, v in tb[f"sweep/{key}"]] == pytest.approx([p[key] for p in points], rel=1e-5)
    assert d["id"] in cli_json(h, "show", str(lab["train"]))["children"]


@pytest.mark.slow
def test_walk_queued_then_run_by_the_worker(lab):
    h = lab["home"]
    job = cli_json(h, "walk", str(lab["train"]), "--mode", "diffuse", "--steps", "6", "--chains", "4",
                   "--every", "2", "--priority", "5", "--device", "cpu")
    assert job["status"] == "queued" and job["kind"] == "walk" and job["parent_id"] == lab["train"]
    assert job["priority"] == 5 and job["device"] == "cpu" and job["total_steps"] == 6
    proc = subprocess.run([sys.executable, "-m", "aetui", "worker", "--until-empty", "--home", str(h.path)],
                          capture_output=True, text=True, cwd=ROOT, env=cli_env(h.path), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    d = cli_json(h, "show", str(job["id"]))
    assert d["status"] == "done", d["error"]
    r, run_dir = d["results"], Path(d["run_dir"])
    assert r["frame_steps"] == [0, 2, 4, 6] and len(r["step_size"]) == 6
    assert d["artifacts"]["frames"] == [f"frames/frame_{n:05d}.png" for n in (0, 2, 4, 6)]
    for name in [*d["artifacts"]["frames"], d["artifacts"]["gif"], d["artifacts"]["filmstrip"]]:
        assert (run_dir / name).is_file(), name
    _, title = label_bands(run_dir / d["artifacts"]["frames"][1], (2 * 33 + 1, 2 * 33 + 1))  # 4 chains, 2x2
    assert title.shape[0] > 0 and has_text(title)  # the frame says its walk step
    chains, steps = label_bands(run_dir / d["artifacts"]["filmstrip"], (4 * 33 + 1, 4 * 33 + 1))
    assert has_text(chains) and has_text(steps)  # rows: chains; columns: walk steps 0, 2, 4, 6
    log = (run_dir / "stdout.log").read_text()
    assert "aetui: loading the model" in log  # the phase before its first step, in the job's log
    tb = scalars(run_dir)
    assert [s for s, _ in tb["walk/step_size"]] == [1, 2, 3, 4, 5, 6]
    assert [v for _, v in tb["walk/moving_fraction"]] == pytest.approx(r["moving_fraction"])


def test_training_pictures_label_their_rows_and_the_log_tells_the_steps(lab):
    """A training's grids name their rows (input / output; clean / corrupted / output) and
    its step; its log names the model, its size, device and precision, then one line per
    logged step with its loss (what the dashboard's Log tab shows)."""
    images = lab["home"].runs / str(lab["train"]) / "images"
    n = 3  # builtin:32 holds out 3 images
    rows, title = label_bands(images / "recon_00000004.png", (n * 33 + 1, 2 * 33 + 1))
    assert has_text(rows) and has_text(title)
    rows, title = label_bands(images / "denoise_00000004.png", (n * 33 + 1, 3 * 33 + 1))  # a clean row too
    assert has_text(rows) and has_text(title)
    log = lab["train_log"]
    assert re.search(r"aetui: model unet res32 .*: [\d,]+ parameters; device cpu; precision fp32", log), log
    assert re.findall(r"^step (\d+)/4  loss \S+", log, re.M) == ["2", "4"], log
    assert "aetui: preparing data" in log and "aetui: building the model" in log
    from store.queries import get_job

    assert get_job(lab["home"].db, lab["train"]).last_line is None  # steps ran: no phase left


def test_probe_now_on_a_named_layer(lab):
    d = cli_json(lab["home"], "probe", str(lab["train"]), "--layer", "bottleneck", "--iters", "6", "--images", "2", "--now")
    r, run_dir = d["results"], Path(d["run_dir"])
    assert d["status"] == "done" and r["layer"] == "bottleneck" and r["layer_shape"] == [16, 8, 8]
    assert {"trained_mse", "untrained_mse", "start_mse"} <= set(r) and d["spec"]["bn"] == "eval"
    assert d["artifacts"]["images"][0] == "probe.png"
    assert all((run_dir / name).is_file() for name in d["artifacts"]["images"])
    assert {"probe/trained_loss", "probe/untrained_loss"} <= set(scalars(run_dir))


def test_outside_checkpoint_has_no_parent(lab, tmp_path):
    h = lab["home"]
    outside = tmp_path / "elsewhere" / "model.pt"
    outside.parent.mkdir()
    shutil.copy(lab["final"], outside)
    d = cli_json(h, "sweep", str(outside), "--levels", "0.3", "--images", "2", "--no-control", "--now")
    assert d["status"] == "done" and d["parent_id"] is None and d["spec"]["checkpoint"] == str(outside)
    assert "control_output_mse" not in d["results"]["points"][0]
    # a checkpoint that lacks its training spec needs --data for its held-out images
    bare = save_checkpoint(tmp_path / "bare.pt", spec=False)
    before = job_count(h)
    refused = cli(h, "walk", str(bare), "--steps", "2")
    assert refused.exit_code == 2 and "--data" in refused.stderr and job_count(h) == before
    d = cli_json(h, "walk", str(bare), "--steps", "2", "--chains", "2", "--start", "data", "--data", "builtin:16", "--now")
    assert d["status"] == "done" and d["results"]["frame_count"] == 3


def test_bad_input_is_one_line_exit_2_and_queues_nothing(lab, tmp_path):
    h = lab["home"]
    train = str(lab["train"])
    queued = cli_json(h, "queue", "unet", "--res", "32", "--base-width", "4", "--depth", "2")["id"]
    sweep = cli_json(h, "sweep", train, "--levels", "0.5")["id"]  # queued, never run
    skips = save_checkpoint(tmp_path / "skips.pt", skips=True)
    not_plain = tmp_path / "pickled.pt"
    import torch

    torch.save({"config": {"name": "unet"}, "model": {}, "payload": NotPlain()}, not_plain)
    text = tmp_path / "notes.pt"
    text.write_text("not a checkpoint\n")
    cases = [
        (["sweep", str(queued)], f"job {queued} is queued, not a finished training run"),
        (["walk", str(sweep)], f"job {sweep} is a sweep job, not a training run"),
        (["probe", "999"], "no job 999"),
        (["sweep", train, "--levels", "0.5,1.5"], "--levels: mix alpha=1.5 out of range [0, 1]"),
        (["sweep", train, "--noise", "gauss", "--levels", "0.1:0.5:3,4"], "--levels: bad level range"),
        (["sweep", train, "--noise", "gauss", "--levels", "0.1,20"], "--levels: gauss sigma=20 out of range [0, 10]"),
        (["sweep", train, "--noise", "mix:mu=0.5,nu=1"], "--noise: unknown parameter 'nu'"),
        (["walk", str(skips), "--mode", "latent"], "--mode latent needs an encoder/decoder split"),
        (["walk", train, "--mode", "iterate", "--eps", "0.1"], "--eps applies to --mode latent only"),
        (["walk", train, "--mode", "sideways"], "--mode: input should be"),
        (["probe", train, "--layer", "fc7"], "unknown layer 'fc7'"),
        (["probe", train, "--bn", "frozen"], "--bn: input should be 'train' or 'eval'"),
        (["sweep", str(not_plain)], "is not a plain checkpoint"),
        (["sweep", str(text)], "is not a plain checkpoint"),
        (["sweep", str(tmp_path / "missing.pt")], "neither a job id nor an existing checkpoint file"),
        (["walk", train, "--chains", "0"], "--chains: input should be greater than or equal to 1"),
        (["sweep", train, "--device", "tpu"], "tpu"),
    ]
    before = job_count(h)
    for args, message in cases:
        result = cli(h, *args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("aetui: error:"), (args, result.stderr)
        assert message in lines[0], (args, lines[0])
    assert job_count(h) == before


def test_queueing_on_a_job_id_does_not_import_torch(lab):
    train, home = str(lab["train"]), str(lab["home"].path)
    runs = [["sweep", train], ["walk", train, "--mode", "latent"], ["probe", train, "--layer", "inc"]]
    code = ("import json, sys; from aetui.cli import app\n"
            f"for args in {runs!r}:\n"
            f"    try:\n        app([*args, '--home', {home!r}])\n    except SystemExit as e:\n"
            "        assert not e.code, e.code\n"
            "print('TORCH' if 'torch' in sys.modules else 'NOTORCH', file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=cli_env(lab["home"].path))
    assert len(out.stdout.split()) == 3 and all(w.isdigit() for w in out.stdout.split()), out.stdout + out.stderr
    assert "NOTORCH" in out.stderr, out.stderr


def test_real_command_exit_code_and_message(lab):
    """The installed entry point, not the in-process runner: exit 2, one line on stderr."""
    proc = aetui_proc(lab["home"].path, "probe", str(lab["train"]), "--layer", "nope", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert re.fullmatch(r"aetui: error: unknown layer 'nope' for [^\n]+; layers: [\w, ]+\n", proc.stderr), proc.stderr
