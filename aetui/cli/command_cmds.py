"""Verbs for any program and for every job's output: add, log, wait (pueue's most used)."""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

import os
import sys
import time
from typing import Annotated, Optional

import typer

from aetui.cli import completers
from aetui.cli.options import HomeOpt, JobIdArg, JsonOpt, RunsRootOpt, check_job_id, check_priority, home_of, user_errors
from aetui.errors import UserError

Opt = typer.Option
WAIT_POLL_S = 0.5  # how often `log -f` and `wait` look again


def register(app: typer.Typer) -> None:
    # everything after the first word of the command is its own (`aetui add python train.py --lr 1`)
    app.command(name="add", context_settings={"allow_interspersed_args": False})(user_errors(add))
    for fn in (log, wait):
        app.command(name=fn.__name__)(user_errors(fn))


def add(
    command: Annotated[Optional[list[str]], typer.Argument(help="the program and its arguments, after --", show_default=False)] = None,
    gpus: Annotated[int, Opt("--gpus", min=1, help="devices it sees (one process sees them all, not one rank each)")] = 1,
    device: Annotated[str, Opt(help="auto (any free device), cpu or cuda:N")] = "auto",
    priority: Annotated[int, Opt(help="higher runs first")] = 0,
    after: Annotated[Optional[int], Opt(help="run only after this job is done", show_default=False)] = None,
    name: Annotated[Optional[str], Opt(help="what the table shows [default: the command]", show_default=False)] = None,
    cwd: Annotated[Optional[str], Opt(help="the folder it runs in [default: this one]", show_default=False)] = None,
    env: Annotated[Optional[list[str]], Opt("--env", help="KEY=VALUE for its environment (repeatable)", show_default=False)] = None,
    json: JsonOpt = False,
    runs_root: RunsRootOpt = None,
    home: HomeOpt = None,
) -> None:
    """Queue any program (no shell) for the workers, with the devices it asks for.

    It runs in the folder given (or this one), with PATH, the virtualenv or conda
    environment, HOME, the locale and --env; AETUI_JOB_ID, AETUI_RUN_DIR, AETUI_ATTEMPT and
    AETUI_TB_DIR say where to write (TensorBoard scalars under AETUI_TB_DIR are its curves).

    Examples: `aetui add -- python train.py --lr 3e-4` ·
    `aetui add --gpus 2 --name big --env WANDB_MODE=offline -- torchrun --nproc-per-node 2 train.py` ·
    `aetui add --after 7 -- python eval.py`
    """
    from aetui.specs.command import carried_env, parse_env

    argv = list(command or [])
    if not argv or not argv[0].strip():
        raise UserError("no command after --: e.g. `aetui add -- python train.py`")
    user_env = parse_env(env)
    folder = os.path.abspath(os.path.expanduser(cwd)) if cwd is not None else os.getcwd()
    if not os.path.isdir(folder):
        raise UserError(f"--cwd {cwd}: no such folder")
    check_priority(priority)
    if after is not None:
        check_job_id(after, "--after")
    from aetui.cli.jobs_cmds import report_queued
    from aetui.jobs import submit

    h = home_of(home, runs_root, needs=None if after is None else f"--after job {after} does not exist")
    spec = {"argv": argv, "cwd": folder, "env": carried_env(), "user_env": user_env, "name": name or "", "gpus": gpus}
    jobs = submit(h, "command", [spec], priority=priority, device=device, after=after)
    report_queued(h, jobs, json)


def log(
    job_id: JobIdArg,
    follow: Annotated[bool, Opt("--follow/--no-follow", "-f", help="go on printing what it writes until it ends")] = False,
    home: HomeOpt = None,
) -> None:
    """Print a job's output: its stdout here on stdout, its stderr on stderr.

    Examples: `aetui log 3` · `aetui log 3 -f`
    """
    from aetui.jobs import job_logs

    h = home_of(home, needs=f"no job {check_job_id(job_id)}", write=False)
    out_path, err_path = job_logs(h, job_id)
    streams = [(out_path, sys.stdout.buffer, 0), (err_path, sys.stderr.buffer, 0)]
    while True:
        ended = not follow or _ended(h, job_id)  # read before the files: their last bytes are then in
        streams = [(path, sink, _copy_new(path, sink, offset)) for path, sink, offset in streams]
        if ended:
            return
        time.sleep(WAIT_POLL_S)


def _copy_new(path, sink, offset: int) -> int:
    """Write what `path` holds past `offset` to `sink`; the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:  # not started yet: no file
        return offset
    if data:
        sink.write(data)
        sink.flush()
    return offset + len(data)


def _ended(h, job_id: int) -> bool:
    from store import queries
    from store.states import FINISHED

    return queries.get_job(h.db, job_id).status in FINISHED


def wait(
    job_ids: Annotated[Optional[list[int]], typer.Argument(help="job ids [default: every queued or running job]", show_default=False,
                                                               autocompletion=completers.job_ids)] = None,
    timeout: Annotated[Optional[float], Opt(help="give up after this many seconds (exit 1) [default: wait for ever]", show_default=False)] = None,
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Wait until jobs end; exit 0 when every one is done, 1 otherwise.

    Examples: `aetui wait 3 4` · `aetui wait` (all queued and running jobs) · `aetui wait 3 && aetui log 3`
    """
    from aetui.cli.options import check_number, print_json
    from store import queries
    from store.states import ACTIVE, FINISHED, JobStatus

    ids = [check_job_id(i) for i in job_ids or []]
    if timeout is not None:
        check_number(timeout, "--timeout", low=0, high=366 * 24 * 3600)
    deadline = None if timeout is None else time.monotonic() + timeout
    h = home_of(home, needs=f"no job {ids[0]}" if ids else None, write=False)
    from aetui.jobs import get_jobs

    if ids:
        get_jobs(h, ids)  # UserError naming a job that does not exist
    else:
        ids = sorted(j.id for s in ACTIVE for j in queries.list_jobs(h.db, status=s))
    left, ended = set(ids), {}
    while left:
        for job in get_jobs(h, sorted(left)):
            if job.status in FINISHED:
                left.discard(job.id)
                ended[job.id] = job.status
                if not json:
                    typer.echo(f"job {job.id}: {job.status}" + (f" ({job.error})" if job.error else ""))
        if left and deadline is not None and time.monotonic() >= deadline:
            if not json:
                typer.echo(f"still running or queued after {timeout:g} s: {', '.join(map(str, sorted(left)))}", err=True)
            break
        if left:
            time.sleep(WAIT_POLL_S)
    if json:
        print_json({str(i): ended.get(i) for i in ids})
    if left:
        raise typer.Exit(1)
    if any(ended[i] != JobStatus.DONE for i in ids):
        raise typer.Exit(1)
