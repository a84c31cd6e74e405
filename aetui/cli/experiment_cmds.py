"""Verbs that turn a trained autoencoder into the article's experiments: sweep, walk, probe.

Each queues one job of its kind on a finished training job (its parent) or on a
checkpoint file (an outside model), after checking it against that model; `--now` runs
it here in the foreground with a progress bar.
"""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

from typing import Annotated, Any, Optional

import typer

from aetui.cli import completers
from aetui.cli.options import HomeOpt, JsonOpt, check_job_id, check_priority, home_of, print_json, user_errors
from aetui.defaults import EXPERIMENT, PROBE, SWEEP, SWEEP_LEVELS, WALK, shown, text
from aetui.errors import UserError
from store.states import JobStatus

Opt = typer.Option
TargetArg = Annotated[str, typer.Argument(
    metavar="JOB_ID|CHECKPOINT", show_default=False, autocompletion=completers.trained_job_ids,
    help="a finished training job's id, or a checkpoint file (.pt) of an outside model")]
NowOpt = Annotated[bool, Opt("--now", help="run it here in the foreground, with a progress bar")]
PriorityOpt = Annotated[int, Opt(help="higher runs first")]
DeviceOpt = Annotated[str, Opt(help="auto, cpu or cuda:N")]
DataOpt = Annotated[Optional[str], Opt(help="held-out images from this data instead of the model's own (needed for a checkpoint without its training spec)", show_default=False)]
SeedOpt = Annotated[Optional[int], Opt(help=f"seed of the noise draws {shown(EXPERIMENT['seed'])}", show_default=False)]
ModelOpt = Annotated[Optional[str], Opt("--model", metavar="PATH.py:NAME", help="a checkpoint of your own model: rebuild it from this file (by default from the snapshot under this home with the checkpoint's sha256)", show_default=False, autocompletion=completers.code_refs)]


def register(app: typer.Typer) -> None:
    for fn in (sweep, walk, probe):
        app.command(name=fn.__name__)(user_errors(fn))


def sweep(
    target: TargetArg,
    noise: Annotated[str, Opt(help="corruption and its fixed parameters: mix (x'=a*x+(1-a)*N(mu,sigma)), "
                                   "gauss, saltpepper, mask or blur; e.g. mix:mu=0.5,sigma=0.2",
                        autocompletion=completers.corruption_names)] = SWEEP["noise"],
    levels: Annotated[Optional[str], Opt(help="level grid: a,b,c or start:stop:count [default: the noise's "
                                              "own level if it names one, else a grid per noise, mix: "
                                              f"{SWEEP_LEVELS['mix']}]", show_default=False)] = None,
    images: Annotated[Optional[int], Opt(help=f"held-out images {shown(SWEEP['images'])}", show_default=False)] = None,
    batch_size: Annotated[Optional[int], Opt(help=f"images per forward pass {shown(SWEEP['batch_size'])}", show_default=False)] = None,
    bn: Annotated[Optional[str], Opt(help=f"batch norm: train (batch statistics, the article) or eval {shown(EXPERIMENT['bn'])}", show_default=False)] = None,
    control: Annotated[Optional[bool], Opt("--control/--no-control", help=f"also the untrained model, same seed {shown(SWEEP['control'])}", show_default=False)] = None,
    samples: Annotated[Optional[int], Opt(help=f"images in each level's triplet PNG {shown(SWEEP['samples'])}", show_default=False)] = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    seed: SeedOpt = None,
    now: NowOpt = False,
    priority: PriorityOpt = 0,
    device: DeviceOpt = "auto",
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Noise sweep: input vs output error per corruption level, trained vs untrained.

    Examples: `aetui sweep 3` · `aetui sweep 3 --noise mix --levels 0.9,0.7,0.5,0.3,0.1` ·
    `aetui sweep 3 --noise gauss --levels 0.05:0.8:8 --now` · `aetui sweep run/final.pt --data builtin`
    """
    fields = {"noise": noise, "levels": levels, "images": images, "batch_size": batch_size, "bn": bn,
              "control": control, "samples": samples, "data": data, "seed": seed, "model": model}
    _queue_and_maybe_run("sweep", fields, target, now=now, priority=priority, device=device, as_json=json, home=home)


def walk(
    target: TargetArg,
    mode: Annotated[str, Opt(help="iterate (x <- O(x)), latent (h <- E(D(h)) + eps*N(0,1)) or diffuse "
                                  f"(x <- (n/N) O(x) + (1-n/N) N({WALK['mu']:g},{WALK['sigma']:g}))")] = WALK["mode"],
    steps: Annotated[Optional[int], Opt(help=f"steps {shown(WALK['steps'])}", show_default=False)] = None,
    chains: Annotated[Optional[int], Opt(help=f"chains walked together, one batch {shown(WALK['chains'])}", show_default=False)] = None,
    start: Annotated[Optional[str], Opt(help=f"noise (N(mu, sigma)) or data (held-out images) {shown(WALK['start'])}", show_default=False)] = None,
    eps: Annotated[Optional[float], Opt(help=f"latent noise std, --mode latent {shown(WALK['eps'])}", show_default=False)] = None,
    every: Annotated[Optional[int], Opt(help=f"save every k-th frame [default: about {WALK['frames']} frames]", show_default=False)] = None,
    move_threshold: Annotated[Optional[float], Opt(help=f"a chain moves while ||x_{{n+1}}-x_n|| is above this [default: {text(WALK['move_rms'])}*sqrt(3*res*res)]", show_default=False)] = None,
    mu: Annotated[Optional[float], Opt(help=f"mean of the start and diffusion noise {shown(WALK['mu'])}", show_default=False)] = None,
    sigma: Annotated[Optional[float], Opt(help=f"std of the start and diffusion noise {shown(WALK['sigma'])}", show_default=False)] = None,
    bn: Annotated[Optional[str], Opt(help=f"batch norm: train (the article) or eval {shown(EXPERIMENT['bn'])}", show_default=False)] = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    seed: SeedOpt = None,
    now: NowOpt = False,
    priority: PriorityOpt = 0,
    device: DeviceOpt = "auto",
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Manifold walk: chains of images iterated through the model; frames, GIF, filmstrip.

    Examples: `aetui walk 3 --mode diffuse --steps 200 --chains 16` ·
    `aetui walk 3 --mode latent --eps 0.2 --steps 300 --start data` · `aetui walk 3 --mode iterate --steps 100 --now`
    """
    fields = {"mode": mode, "steps": steps, "chains": chains, "start": start, "eps": eps, "every": every,
              "move_threshold": move_threshold, "mu": mu, "sigma": sigma, "bn": bn, "data": data, "seed": seed, "model": model}
    _queue_and_maybe_run("walk", fields, target, now=now, priority=priority, device=device, as_json=json, home=home)


def probe(
    target: TargetArg,
    layer: Annotated[str, Opt(help="layer whose output is matched, e.g. output, bottleneck, inc (unet), "
                                   "hidden3 (mlp); a wrong name lists them")] = PROBE["layer"],
    iters: Annotated[Optional[int], Opt(help=f"gradient steps on the input {shown(PROBE['iters'])}", show_default=False)] = None,
    lr: Annotated[Optional[float], Opt(help=f"step size of plain gradient descent {shown(PROBE['lr'])}", show_default=False)] = None,
    images: Annotated[Optional[int], Opt(help=f"held-out images to reconstruct {shown(PROBE['images'])}", show_default=False)] = None,
    bn: Annotated[Optional[str], Opt(help=f"batch norm: eval (as the original probe) or train {shown(PROBE['bn'])}", show_default=False)] = None,
    data: DataOpt = None,
    model: ModelOpt = None,
    seed: SeedOpt = None,
    now: NowOpt = False,
    priority: PriorityOpt = 0,
    device: DeviceOpt = "auto",
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Representation probe: the input a layer's output implies, trained vs untrained.

    Examples: `aetui probe 3` · `aetui probe 3 --iters 500` · `aetui probe 3 --layer bottleneck --now`
    """
    fields = {"layer": layer, "iters": iters, "lr": lr, "images": images, "bn": bn, "data": data, "seed": seed, "model": model}
    _queue_and_maybe_run("probe", fields, target, now=now, priority=priority, device=device, as_json=json, home=home)


def _queue_and_maybe_run(kind: str, fields: dict[str, Any], target: str, *, now: bool, priority: int, device: str,
                         as_json: bool, home: str | None) -> None:
    """Queue (nothing on bad input), then either report the job or run it here."""
    from aetui.jobs import job_detail, job_summary, submit_experiment

    check_priority(priority)
    text = target.strip()
    on_job = text.isdigit()
    if on_job:  # a job id: one the store can hold, in ASCII digits ("²" is a digit too)
        if not (text.isascii() and len(text) <= 20):
            raise UserError(f"no job {text[:40]}")
        check_job_id(int(text))
    else:
        from aetui.cli.home_checks import check_path_text

        check_path_text(text, "checkpoint")
    h = home_of(home, needs=f"no job {text}" if on_job else None)  # on a job: the job's store must exist
    job = submit_experiment(h, kind, fields, target, priority=priority, device=device)
    if not now:
        if as_json:
            print_json(job_summary(job))
        else:
            typer.echo(job.id)
        _warn_without_worker(h)
        return
    from aetui.worker.foreground import run_now

    typer.echo(f"{kind}: queued job {job.id}: {job.label}", err=True)
    run_now(h, job.id, device=device, quiet=as_json)
    detail = job_detail(h, job.id)
    if as_json:
        print_json(detail)
    else:
        from aetui.cli.render import print_results

        print_results(detail)
    if detail["status"] != JobStatus.DONE:
        typer.echo(f"aetui: job {job.id} {detail['status']}: {detail['error']}", err=True)
        raise typer.Exit(1)


def _warn_without_worker(h) -> None:
    from aetui.worker.registry import running_workers

    if not running_workers(h):
        typer.echo("aetui: no worker is running; start one with `aetui worker` (or `aetui worker --detach`)", err=True)
