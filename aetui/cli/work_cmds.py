"""Verbs that run things: worker, demo, tb."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Annotated, Optional

import typer

from aetui.cli.options import HomeOpt, JsonOpt, home_of, print_json, user_errors
from aetui.errors import UserError

Opt = typer.Option


def register(app: typer.Typer) -> None:
    for fn in (worker, demo, tb):
        app.command(name=fn.__name__)(user_errors(fn))
    app.command(name="worker-detached", hidden=True)(_detached_child)


def worker(
    until_empty: Annotated[bool, Opt("--until-empty", help="exit when no queued or running job is left")] = False,
    detach: Annotated[bool, Opt("--detach", help="run in the background (one per home)")] = False,
    devices: Annotated[Optional[str], Opt(help="comma list of devices to use, e.g. cuda:0,cuda:1 \\[default: all]", show_default=False)] = None,
    poll: Annotated[float, Opt(help="seconds between queue polls")] = 1.0,
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Run queued jobs: one per device at a time, each in its own process.

    Examples: `aetui worker` · `aetui worker --until-empty` · `aetui worker --detach`
    """
    from aetui.worker.devices import discover, parse_device
    from aetui.worker.registry import running_workers

    h = home_of(home)
    available = discover()
    chosen = available
    if devices:
        chosen = [parse_device(d, available) for d in devices.split(",") if d.strip()]
        if any(d == "auto" for d in chosen):
            chosen = available
    if detach:
        others = [w for w in running_workers(h) if w.get("detached")]
        if others:
            raise UserError(f"a background worker already runs for {h.path} (pid {others[0]['pid']})")
        h.path.mkdir(parents=True, exist_ok=True)
        log = open(h.path / "worker.log", "ab")
        cmd = [sys.executable, "-m", "aetui", "worker-detached", "--home", str(h.path), "--poll", str(poll),
               "--devices", ",".join(chosen)]
        if until_empty:
            cmd.append("--until-empty")
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        if json:
            print_json({"pid": proc.pid, "log": str(h.path / "worker.log"), "devices": chosen})
        else:
            typer.echo(f"worker started in the background (pid {proc.pid}); log: {h.path / 'worker.log'}")
        return
    _run_worker(h, chosen, until_empty, poll, detached=False)


def _run_worker(h, devices: list[str], until_empty: bool, poll: float, *, detached: bool) -> None:
    from aetui.worker.registry import registered
    from aetui.worker.supervisor import Worker

    with registered(h, devices=devices, detached=detached):
        code = Worker(h, devices, until_empty=until_empty, poll_s=poll,
                      log=lambda m: print(f"aetui worker: {m}", flush=True)).run()
    raise typer.Exit(code)


def _detached_child(
    until_empty: Annotated[bool, Opt("--until-empty")] = False,
    devices: Annotated[str, Opt()] = "cpu",
    poll: Annotated[float, Opt()] = 1.0,
    home: HomeOpt = None,
) -> None:
    _run_worker(home_of(home), devices.split(","), until_empty, poll, detached=True)


DEMO_SPEC = {
    "model": "unet", "res": 32, "data": "builtin:512", "steps": 300, "batch_size": 32, "lr": 1e-3,
    "options": {"base_width": 16, "depth": 3}, "log_every": 10, "image_every": 100, "checkpoint_every": 100,
}


def demo(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Train a small U-Net on the built-in images (res 32, ~1 min on 2 CPU cores) and show the results.

    Example: `aetui demo`
    """
    from aetui.jobs import job_detail, submit
    from aetui.worker.foreground import run_now

    h = home_of(home)
    (job,) = submit(h, "train", [DEMO_SPEC])
    typer.echo(f"demo: queued job {job.id}: {job.label}", err=json)
    run_now(h, job.id, quiet=json)
    detail = job_detail(h, job.id)
    if json:
        print_json(detail)
    else:
        from aetui.cli.render import job_panel

        job_panel(detail)
        typer.echo(f"\nTensorBoard logs: {detail['run_dir']}/tb   (view them with `aetui tb --home {h.path}`)")
    if detail["status"] != "done":
        raise UserError(f"demo job {job.id} {detail['status']}: {detail['error']}")


def tb(
    port: Annotated[int, Opt(help="port to listen on")] = 6006,
    host: Annotated[str, Opt(help="address to bind (localhost: reach it over `ssh -L 6006:localhost:6006`)")] = "localhost",
    home: HomeOpt = None,
) -> None:
    """Start TensorBoard on the runs folder.

    Example: `aetui tb --port 6006`, then open http://localhost:6006
    """
    h = home_of(home)
    h.runs.mkdir(parents=True, exist_ok=True)
    typer.echo(f"TensorBoard on http://{host}:{port} over {h.runs} (Ctrl-C stops it)", err=True)
    cmd = [sys.executable, "-m", "tensorboard.main", "--logdir", str(h.runs), "--host", host, "--port", str(port)]
    try:
        raise typer.Exit(subprocess.call(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
