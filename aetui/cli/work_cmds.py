"""Verbs that run things: worker, demo, tb."""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

import os
import subprocess
import sys
from contextlib import contextmanager
from typing import Annotated, Iterator, Optional

import typer

from aetui.cli.options import HomeOpt, JsonOpt, RunsRootOpt, check_number, home_of, print_json, user_errors
from aetui.defaults import LIMITS, SWEEP, SWEEP_LEVELS
from aetui.errors import UserError
from aetui.worker.defaults import CANCEL_GRACE_S, POLL_S, RESERVE_AFTER_S, SLURM_TIME_MIN, STALL_S
from store.states import JobStatus

Opt = typer.Option


def register(app: typer.Typer) -> None:
    for fn in (worker, demo, tb):
        app.command(name=fn.__name__)(user_errors(fn))
    app.command(name="worker-detached", hidden=True)(_detached_child)


def worker(
    until_empty: Annotated[bool, Opt("--until-empty", help="exit once no job is left that this worker could run (waits for running jobs, takes over those of dead workers)")] = False,
    detach: Annotated[bool, Opt("--detach", help="run in the background (one per home)")] = False,
    stop: Annotated[bool, Opt("--stop", help="stop this home's background worker: its running jobs checkpoint and are requeued")] = False,
    devices: Annotated[Optional[str], Opt(help="comma list of devices to use, e.g. cuda:0,cuda:1 or cpu [default: all]; cpu:0,cpu:1,... are CPU slots, each one device for a job's --gpus (a CPU/test aid)", show_default=False)] = None,
    per_device: Annotated[int, Opt("--per-device", min=1, help="jobs run at once on each device")] = 1,
    grace: Annotated[float, Opt(min=0, help="seconds a stopped or cancelled job gets to checkpoint before it is killed")] = CANCEL_GRACE_S,
    reserve_after: Annotated[float, Opt(min=0, help="seconds a job that needs several devices (--gpus) may wait while narrower jobs start; then no narrower job starts until it has its devices")] = RESERVE_AFTER_S,
    poll: Annotated[float, Opt(help="seconds between queue polls")] = POLL_S,
    stall_timeout: Annotated[float, Opt("--stall-timeout", min=0, help="seconds a job may report no progress before it is stopped as stalled (requeued once, then failed); 0: never")] = STALL_S,
    share: Annotated[bool, Opt("--share", help="also use GPUs that other processes (not this worker's jobs) hold; without it a held GPU is left alone")] = False,
    allow_commands: Annotated[bool, Opt("--allow-commands", help="run command jobs (`aetui add`) from a PostgreSQL store too: whoever can write a row there could run programs as this user (a SQLite store always runs them)")] = False,
    executor: Annotated[str, Opt(help="where jobs run: local (a child process each) or slurm (a Slurm job each, through submitit)")] = "local",
    partition: Annotated[Optional[str], Opt(help="Slurm partition", rich_help_panel="Slurm (--executor slurm)", show_default=False)] = None,
    gpus_per_job: Annotated[int, Opt(min=0, help="GPUs for each job", rich_help_panel="Slurm (--executor slurm)")] = 0,
    cpus_per_job: Annotated[Optional[int], Opt(min=1, help="CPUs for each job", rich_help_panel="Slurm (--executor slurm)", show_default=False)] = None,
    time: Annotated[Optional[str], Opt("--time", help=f"time limit of each job, [D-]HH:MM:SS [default: {SLURM_TIME_MIN // 60} hours]; at the limit it checkpoints and Slurm requeues it", rich_help_panel="Slurm (--executor slurm)", show_default=False)] = None,
    mem: Annotated[Optional[str], Opt(help="memory for each job, e.g. 32G", rich_help_panel="Slurm (--executor slurm)", show_default=False)] = None,
    account: Annotated[Optional[str], Opt(help="Slurm account to charge", rich_help_panel="Slurm (--executor slurm)", show_default=False)] = None,
    slurm_opt: Annotated[Optional[list[str]], Opt("--slurm-opt", help="any other sbatch option as key=value, e.g. qos=high (repeatable)", rich_help_panel="Slurm (--executor slurm)", show_default=False)] = None,
    max_jobs: Annotated[int, Opt("--max-jobs", min=1, help="Slurm jobs submitted at once", rich_help_panel="Slurm (--executor slurm)")] = 4,
    install_service: Annotated[bool, Opt("--install-service", help="write a systemd user unit that runs this worker (with these options) at every boot, and say how to enable it; starts nothing")] = False,
    runs_root: RunsRootOpt = None,
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Run queued jobs: one per device at a time (`--per-device N`: N), each in its own process.

    With `--executor slurm` each job is a Slurm job instead (`--max-jobs` at once); this
    worker submits them, renews nothing they cannot renew themselves, and records how they end.

    Examples: `aetui worker` · `aetui worker --until-empty` · `aetui worker --detach` · `aetui worker --stop` ·
    `aetui worker --devices cuda:1 --per-device 2` · `aetui worker --devices cpu:0,cpu:1` (2 CPU slots) ·
    `aetui worker --executor slurm --partition gpu --gpus-per-job 1 --time 4:00:00`
    """
    from aetui.cli.options import from_config
    from aetui.worker.devices import discover, parse_device
    from aetui.worker.registry import running_workers

    # a flag not given takes the config file's value (`aetui config` says which won)
    poll, grace, per_device = (from_config("poll", "worker.poll", poll), from_config("grace", "worker.grace", grace),
                               from_config("per_device", "worker.per_device", per_device))
    stall_timeout = from_config("stall_timeout", "worker.stall_timeout", stall_timeout)
    reserve_after = from_config("reserve_after", "worker.reserve_after", reserve_after)
    devices = from_config("devices", "device", devices)
    _check_worker_numbers(poll=poll, grace=grace, reserve_after=reserve_after, per_device=per_device,
                          max_jobs=max_jobs, gpus_per_job=gpus_per_job, cpus_per_job=cpus_per_job)
    h = home_of(home, runs_root)
    if stop:
        return _stop_background(h, json)
    if install_service:
        conflicting = [flag for flag, on in (("--detach", detach), ("--until-empty", until_empty),
                                             ("--executor slurm", executor != "local")) if on]
        if conflicting:
            raise UserError(f"--install-service runs a local worker that waits for jobs; drop {', '.join(conflicting)}")
        args = _service_args(devices=devices, per_device=per_device, grace=grace, reserve_after=reserve_after,
                             poll=poll, stall_timeout=stall_timeout, runs_root=runs_root)
        args += [flag for flag, on in (("--share", share), ("--allow-commands", allow_commands)) if on]
        return _install_service(h, args, grace, json)
    available = discover()
    chosen = available
    if devices:
        with _as_user_error():  # a device this machine lacks
            chosen = [parse_device(d, available) for d in devices.split(",") if d.strip()]
        if any(d == "auto" for d in chosen):
            chosen = available
    runner = None
    if executor == "slurm":
        from aetui.worker.executors import SlurmExecutor, parse_minutes, parse_opts

        if detach:
            raise UserError("--detach with --executor slurm is not supported; run the worker in tmux or under nohup")
        with _as_user_error():  # --time or --slurm-opt the parsers cannot read
            if time:
                parse_minutes(time)
            extra = parse_opts(slurm_opt)
        runner = SlurmExecutor(partition=partition, gpus_per_job=gpus_per_job, cpus_per_job=cpus_per_job,
                               time=time, mem=mem, account=account, extra=extra)
        runner.check()
        chosen, per_device = ["slurm"], max_jobs
    elif executor != "local":
        raise UserError(f"--executor {executor!r}: use local or slurm")
    if detach:
        from aetui.worker.registry import register, take_detached_lock

        lock = take_detached_lock(h)  # held by the background worker for its whole life
        if lock is None:
            others = [w for w in running_workers(h) if w.get("detached")]
            pid = f" (pid {others[0]['pid']})" if others else ""
            raise UserError(f"a background worker already runs for {h.path}{pid}")
        log = open(h.path / "worker.log", "ab")
        cmd = [sys.executable, "-m", "aetui", "worker-detached", "--home", str(h.path), "--poll", str(poll),
               "--devices", ",".join(chosen), "--per-device", str(per_device), "--grace", str(grace),
               "--reserve-after", str(reserve_after), "--stall-timeout", str(stall_timeout)]
        cmd += [flag for flag, on in (("--until-empty", until_empty), ("--share", share),
                                      ("--allow-commands", allow_commands)) if on]
        try:
            proc = subprocess.Popen(cmd, stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                                    pass_fds=(lock,))
        finally:
            os.close(lock)
        register(h, pid=proc.pid, devices=chosen, detached=True)  # seen at once by the next command
        if json:
            print_json({"pid": proc.pid, "log": str(h.path / "worker.log"), "devices": chosen})
        else:
            typer.echo(f"worker started in the background (pid {proc.pid}); log: {h.path / 'worker.log'}")
        return
    _run_worker(h, chosen, until_empty, poll, per_device, grace, detached=False, executor=runner,
                reserve_after=reserve_after, stall_s=stall_timeout, share=share, allow_commands=allow_commands)


def _service_args(*, devices: Optional[str], per_device: int, grace: float, reserve_after: float, poll: float,
                  stall_timeout: float, runs_root: Optional[str]) -> list[str]:
    """The worker options given here, for the service's command line (the defaults stay
    out, so a later aetui's defaults apply)."""
    args = ["--devices", devices] if devices else []
    for flag, value, default in (("--per-device", per_device, 1), ("--grace", grace, CANCEL_GRACE_S),
                                 ("--reserve-after", reserve_after, RESERVE_AFTER_S), ("--poll", poll, POLL_S),
                                 ("--stall-timeout", stall_timeout, STALL_S)):
        if value != default:
            args += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if runs_root:
        args += ["--runs-root", os.path.abspath(os.path.expanduser(runs_root))]
    return args


def _install_service(h, args: list[str], grace: float, as_json: bool) -> None:
    from aetui.home import default_path
    from aetui.worker.service import install, instructions

    try:
        path = install(h.path, default_path(), args, grace_s=grace)
    except OSError as e:
        raise UserError(f"cannot write the service unit: {e.strerror or e} ({e.filename or ''})") from None
    if as_json:
        print_json({"unit": str(path), "name": path.name, "home": str(h.path)})
    else:
        typer.echo(instructions(path))


def _stop_background(h, as_json: bool) -> None:
    """`worker --stop`: SIGTERM to the background worker; it exits once its jobs have
    checkpointed and are back in the queue. Nothing to stop is not an error."""
    from aetui.worker.registry import running_workers, stop_background

    pids = stop_background(h)
    if as_json:
        print_json({"stopped": pids})
    elif pids:
        typer.echo(f"stop sent to the background worker (pid {', '.join(map(str, pids))}); "
                   "its running jobs checkpoint and go back to the queue")
    else:
        others = [str(w.get("pid")) for w in running_workers(h)]
        tail = f"; workers in a terminal (pid {', '.join(others)}) stop with Ctrl-C there" if others else ""
        typer.echo(f"no background worker runs for {h.path}{tail}")


def _check_worker_numbers(*, poll: float, grace: float, reserve_after: float, per_device: int, max_jobs: int,
                          gpus_per_job: int, cpus_per_job: Optional[int]) -> None:
    """Before any job is claimed: a nan or negative --poll used to claim and start a job and
    only then fail."""
    day = 24 * 3600.0
    check_number(poll, "--poll", low=0, high=3600, low_open=True)
    check_number(grace, "--grace", low=0, high=day)
    check_number(reserve_after, "--reserve-after", low=0, high=30 * day)
    for flag, value, high in (("--per-device", per_device, 1024), ("--max-jobs", max_jobs, 100_000),
                              ("--gpus-per-job", gpus_per_job, LIMITS["gpus"]),
                              ("--cpus-per-job", cpus_per_job or 1, 100_000)):
        if value > high:
            raise UserError(f"{flag} {value}: at most {high}")


@contextmanager
def _as_user_error() -> Iterator[None]:
    """The worker's parsers of a user's flags raise ValueError: that is the user's error here."""
    try:
        yield
    except ValueError as e:
        raise UserError(str(e)) from None


def _run_worker(h, devices: list[str], until_empty: bool, poll: float, per_device: int, grace: float, *,
                detached: bool, executor=None, reserve_after: float = RESERVE_AFTER_S, stall_s: float = STALL_S,
                share: bool = False, allow_commands: bool = False) -> None:
    from aetui.worker.registry import registered
    from aetui.worker.supervisor import Worker

    with registered(h, devices=devices, detached=detached):
        loop = Worker(h, devices, until_empty=until_empty, poll_s=poll, per_device=per_device, grace_s=grace,
                      log=lambda m: print(f"aetui worker: {m}", flush=True), reserve_after_s=reserve_after,
                      stall_s=stall_s, share=share, run_commands=allow_commands or _is_sqlite(h))
        loop.executor = executor  # None: local child processes
        code = loop.run()
    raise typer.Exit(code)


def _detached_child(
    until_empty: Annotated[bool, Opt("--until-empty")] = False,
    devices: Annotated[str, Opt()] = "cpu",
    per_device: Annotated[int, Opt("--per-device")] = 1,
    grace: Annotated[float, Opt()] = CANCEL_GRACE_S,
    poll: Annotated[float, Opt()] = POLL_S,
    reserve_after: Annotated[float, Opt()] = RESERVE_AFTER_S,
    stall_timeout: Annotated[float, Opt("--stall-timeout")] = STALL_S,
    share: Annotated[bool, Opt("--share")] = False,
    allow_commands: Annotated[bool, Opt("--allow-commands")] = False,
    home: HomeOpt = None,
) -> None:
    _run_worker(home_of(home), devices.split(","), until_empty, poll, per_device, grace, detached=True,
                reserve_after=reserve_after, stall_s=stall_timeout, share=share, allow_commands=allow_commands)


def _is_sqlite(h) -> bool:
    """A store of one user (a file): its command jobs are that user's own. A shared store
    (PostgreSQL) runs them only with `--allow-commands`."""
    return h.db.dialect.name == "sqlite"


DEMO_SPEC = {
    "model": "unet", "res": 32, "data": "builtin:512", "steps": 400, "batch_size": 16, "lr": 2e-3,
    "options": {"base_width": 8, "depth": 3}, "log_every": 10, "image_every": 100, "checkpoint_every": 100,
}


DEMO_SWEEP = {"noise": "mix", "levels": SWEEP_LEVELS["mix"], "images": SWEEP["images"]}
DEMO_WALK = {"mode": "diffuse", "steps": 60, "chains": 8}


def demo(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Train a small U-Net on the built-in images (res 32, ~1 min on 2 CPU cores), then run a
    noise sweep and a diffusion-like walk on it, and show the results.

    Example: `aetui demo`
    """
    from aetui.jobs import job_detail, submit
    from aetui.worker.foreground import run_now

    h = home_of(home)
    (job,) = submit(h, "train", [DEMO_SPEC])
    typer.echo(f"demo: queued job {job.id}: {job.label}", err=json)
    run_now(h, job.id, quiet=json)
    detail = job_detail(h, job.id)
    if detail["status"] != JobStatus.DONE:
        if json:
            print_json(detail)
        raise UserError(f"demo job {job.id} {detail['status']}: {detail['error']}")
    experiments = {kind: _demo_experiment(h, kind, fields, job.id, json)
                   for kind, fields in (("sweep", DEMO_SWEEP), ("walk", DEMO_WALK))}
    if json:
        print_json({**detail, "experiments": experiments})
    else:
        from aetui.cli.render import job_panel, print_results

        job_panel(detail)
        for kind, d in experiments.items():
            typer.echo(f"\n{kind} (job {d['id']}): {d['label']}")
            print_results(d)
        typer.echo(f"\nTensorBoard logs: {h.runs}   (view them with `aetui tb --home {h.path}`)")
    failed = [d for d in experiments.values() if d["status"] != JobStatus.DONE]
    if failed:
        raise UserError(f"demo job {failed[0]['id']} {failed[0]['status']}: {failed[0]['error']}")


def _demo_experiment(h, kind: str, fields: dict, parent: int, quiet: bool) -> dict:
    """Queue one experiment on the demo's training run and run it here."""
    from aetui.jobs import job_detail, submit_experiment
    from aetui.worker.foreground import run_now

    job = submit_experiment(h, kind, fields, str(parent))
    typer.echo(f"demo: queued job {job.id}: {job.label}", err=quiet)
    run_now(h, job.id, quiet=quiet)
    return job_detail(h, job.id)


def tb(
    port: Annotated[Optional[int], Opt(help="port to listen on (refused if busy); default: 6006, or the next free one",
                                       show_default=False)] = None,
    host: Annotated[str, Opt(help="address to bind (localhost: reach it over `ssh -L 6006:localhost:6006`)")] = "localhost",
    names: Annotated[bool, Opt("--names/--plain", help="name runs by job id and the settings that differ (--plain: folder names, and jobs queued later show up)")] = True,
    home: HomeOpt = None,
) -> None:
    """Start TensorBoard on the runs folder; it stops with this command (Ctrl-C, SIGTERM).

    Example: `aetui tb --port 6006`, then open http://localhost:6006
    """
    from aetui.tb_launch import choose_port, serve

    _check_address(host, port)
    h = home_of(home)
    h.runs.mkdir(parents=True, exist_ok=True)
    port = choose_port(host, port)  # a busy --port is the user's error: one line, exit 2
    spec = _tb_spec(h) if names else None
    typer.echo(f"TensorBoard on http://{host}:{port} over {h.runs} (Ctrl-C stops it)"
               + ("; runs named by how they differ (jobs queued later: start it again, or use --plain)"
                  if spec else ""), err=True)
    raise typer.Exit(serve(h.runs, host, port, spec))


def _tb_spec(h) -> str | None:
    """TensorBoard's names for the store's jobs (`aetui.tb_launch.run_names`), or None
    when there are none (or no store yet): then it reads the runs folder plainly."""
    from aetui.run_owner import resolve
    from aetui.tb_launch import logdir_spec, run_names

    from store import queries
    from store.sqlite_read import sqlite_path

    path = sqlite_path(h.db_url)
    if path is not None and not path.is_file():  # no store yet: nothing to name (and none made)
        return None

    jobs = queries.list_jobs(h.db)
    runs = queries.runs_for(h.db, [j.id for j in jobs])
    rows = [(j.id, j.kind, j.spec, j.label, resolve(h.path, runs[j.id].run_dir)) for j in reversed(jobs)
            if j.id in runs]
    return logdir_spec(run_names(rows))


def _check_address(host: str, port: Optional[int]) -> None:
    """A port and a host TensorBoard can bind, or UserError (not TensorBoard's traceback)."""
    import ipaddress
    import re
    import socket

    if port is not None and not 1 <= port <= LIMITS["port"]:
        raise UserError(f"--port {port}: a port number in 1..{LIMITS['port']}")
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    label = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
    if (not host or len(host) > 253 or re.fullmatch(r"[0-9.]+", host)
            or not re.fullmatch(rf"{label}(\.{label})*\.?", host)):
        raise UserError(f"--host {host[:60]!r} is neither an IP address nor a host name")
    try:
        socket.getaddrinfo(host, port or 0, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as e:
        raise UserError(f"--host {host}: cannot resolve it ({e})") from None
