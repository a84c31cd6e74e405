"""Verbs on the queue: queue, runs, show, cancel, retry, priority, delete, pause, resume."""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

from typing import Annotated, Optional

import typer

from aetui.cli import completers
from aetui.cli.options import (HomeOpt, JobIdArg, JsonOpt, RunsRootOpt, check_job_id, check_priority, home_of,
                               print_json, user_errors)
from aetui.defaults import LIMITS, TRAIN, shown
from aetui.models.catalog import defaults as model_defaults
from store.states import JOB_KINDS as STATE_KINDS
from store.states import JobStatus

Opt = typer.Option
UNET, ATTN_UNET, MLP = model_defaults("unet"), model_defaults("attn-unet"), model_defaults("mlp")


def register(app: typer.Typer) -> None:
    for fn in (queue, runs, show, cancel, retry, priority, delete, pause, resume, tag, note):
        app.command(name=fn.__name__.rstrip("_"))(user_errors(fn))


# the job kinds `runs --kind` filters on
JOB_KINDS = STATE_KINDS

# queue's flags that say how to queue, not what to train
NOT_SPEC_FIELDS = ("device", "priority", "after", "json", "runs_root", "home", "opt", "dry_run")


def queue(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="model: mlp, unet or attn-unet; or your own, PATH.py:NAME or package.module:NAME (built as NAME(res=RES, **opts))", show_default=False, autocompletion=completers.model_names)],
    res: Annotated[int, Opt("--res", help="image resolution (power of two)", show_default=False)],
    data: Annotated[str, Opt(help="builtin[:N], cifar10[:PATH], folder:PATH, npy:PATH or py:PATH.py:FUNC (your own function)")] = TRAIN["data"],
    opt: Annotated[Optional[list[str]], Opt("--opt", metavar="KEY=VALUE", help="a model option, VALUE a JSON scalar (64, 0.5, true, group); a comma list makes a grid; repeatable", show_default=False)] = None,
    steps: Annotated[Optional[str], Opt(help=f"training steps {shown(TRAIN['steps'])}; a comma list makes a grid", show_default=False)] = None,
    batch_size: Annotated[Optional[str], Opt(help=f"batch size {shown(TRAIN['batch_size'])}; comma list = grid", show_default=False)] = None,
    lr: Annotated[Optional[str], Opt(help=f"Adam learning rate {shown(TRAIN['lr'])}; comma list = grid", show_default=False)] = None,
    seed: Annotated[Optional[str], Opt(help=f"seed {shown(TRAIN['seed'])}; comma list = grid", show_default=False)] = None,
    skips: Annotated[Optional[bool], Opt("--skips/--no-skips", help=f"U-Net skip connections {shown(UNET['skips'])}", show_default=False)] = None,
    base_width: Annotated[Optional[str], Opt(help=f"U-Net first-level width {shown(UNET['base_width'])}", show_default=False)] = None,
    depth: Annotated[Optional[str], Opt(help=f"U-Net downsamplings {shown(UNET['depth'])[:-1]}; attn-unet {ATTN_UNET['depth']}]", show_default=False)] = None,
    width: Annotated[Optional[str], Opt(help=f"MLP hidden width {shown(MLP['width'])}", show_default=False)] = None,
    hidden_layers: Annotated[Optional[int], Opt(help=f"MLP hidden layers {shown(MLP['hidden_layers'])}", show_default=False)] = None,
    bottleneck: Annotated[Optional[str], Opt(help="U-Net bottleneck, e.g. linear:100", show_default=False)] = None,
    train_noise: Annotated[Optional[str], Opt(help="corrupt training inputs, e.g. mix:0.3 (a denoising control)", show_default=False, autocompletion=completers.corruption_names)] = None,
    download: Annotated[bool, Opt("--download", help="download the dataset if missing (cifar10)")] = False,
    checkpoint_every: Annotated[Optional[int], Opt(help=f"checkpoint every N steps {shown(TRAIN['checkpoint_every'])}", show_default=False)] = None,
    checkpoint_minutes: Annotated[Optional[float], Opt(help=f"and at least every M minutes {shown(TRAIN['checkpoint_minutes'])}", show_default=False)] = None,
    heldout_fraction: Annotated[Optional[float], Opt(help=f"share of images held out for evaluation {shown(TRAIN['heldout_fraction'])}", show_default=False)] = None,
    log_every: Annotated[Optional[int], Opt(help=f"log the loss every N steps {shown(TRAIN['log_every'])}", show_default=False)] = None,
    image_every: Annotated[Optional[int], Opt(help=f"log image grids every N steps {shown(TRAIN['image_every'])}", show_default=False)] = None,
    eval_every: Annotated[Optional[int], Opt(help=f"held-out MSE curve every N steps {shown(TRAIN['eval_every'])}", show_default=False)] = None,
    compile: Annotated[Optional[bool], Opt("--compile/--no-compile", help="torch.compile [default: on for CUDA]", show_default=False)] = None,
    precision: Annotated[str, Opt(help="auto (bf16 on CUDA), fp32 or bf16")] = TRAIN["precision"],
    oom_retry: Annotated[bool, Opt("--oom-retry", help="out of memory: run once more at half the batch size")] = False,
    gpus: Annotated[int, Opt("--gpus", min=1, help="devices for this job, one process each (data-parallel); --batch-size is the global batch and must be divisible by it")] = TRAIN["gpus"],
    sync_bn: Annotated[bool, Opt("--sync-bn", help="batch-norm statistics over all the job's devices (SyncBatchNorm; CUDA only)")] = False,
    device: Annotated[str, Opt(help="auto (any free device), cpu or cuda:N")] = "auto",
    priority: Annotated[int, Opt(help="higher runs first")] = 0,
    after: Annotated[Optional[int], Opt(help="run only after this job is done", show_default=False, autocompletion=completers.job_ids)] = None,
    dry_run: Annotated[bool, Opt("--dry-run", help="check everything and list the jobs and the files of your own code they would snapshot; queue nothing")] = False,
    json: JsonOpt = False,
    runs_root: RunsRootOpt = None,
    home: HomeOpt = None,
) -> None:
    """Queue a training job (a grid of jobs when an option has a comma list).

    Examples: `aetui queue unet --res 64` ·
    `aetui queue mlp --res 32 --data cifar10 --steps 2000 --batch-size 512` ·
    `aetui queue unet --res 64 --lr 1e-4,3e-4 --batch-size 16,32` (4 jobs) ·
    `aetui queue unet --res 256 --base-width 128 --depth 5 --gpus 4 --batch-size 32` (4 GPUs, 8 images each) ·
    `aetui queue ./models/my_ae.py:ConvAE --res 64 --opt latent=64,256 --data py:./data/load.py:images`
    """
    from aetui.cli.grid import train_specs
    from aetui.jobs import submit

    check_priority(priority)
    if after is not None:
        check_job_id(after, "--after")
    flags = {name: value for name, value in ctx.params.items() if name not in NOT_SPEC_FIELDS}
    specs = train_specs(flags, opt or [])
    if dry_run:
        _dry_run(home_of(home, runs_root, write=False), specs, json)
        return
    h = home_of(home, runs_root, needs=None if after is None else f"--after job {after} does not exist")
    jobs = submit(h, "train", specs, priority=priority, device=device, after=after,
                  warn=lambda line: typer.echo(f"aetui: {line}", err=True))
    report_queued(h, jobs, json)


def _dry_run(h, specs, as_json: bool) -> None:
    """What `queue` would do: the jobs' labels and each snapshot's files, sizes and sha256."""
    from aetui.jobs import plan

    parsed, snapshots = plan(h, "train", specs)
    out = []
    for spec, snaps in zip(parsed, snapshots):
        out.append({"label": spec.label, "code": {
            role: {"sha256": snap.sha256, "source": str(snap.source), "git": snap.git, "warnings": snap.warnings,
                   "files": {name: len(data) for name, data in sorted(snap.files.items())}}
            for role, snap in snaps.items()}})
    if as_json:
        print_json(out)
        return
    typer.echo(f"would queue {len(out)} job{'s' if len(out) != 1 else ''} (dry run: nothing queued)")
    for job in out:
        typer.echo(f"  {job['label']}")
    for role, snap in (out[0]["code"] if out else {}).items():
        git = snap["git"]
        where = f" (git {git['commit'][:12]}{', dirty' if git['dirty'] else ''})" if git else ""
        typer.echo(f"{role} code snapshot from {snap['source']}{where}, sha256 {snap['sha256'][:16]}:")
        for name, size in snap["files"].items():
            typer.echo(f"  {name}  {size} bytes")
        for line in snap["warnings"]:
            typer.echo(f"aetui: WARNING: the {role} snapshot {line}", err=True)


def report_queued(h, jobs, as_json: bool) -> None:
    """Print new jobs (JSON: the job, or a list for a grid) and warn when no worker runs."""
    from aetui.jobs import job_summary
    from aetui.worker.registry import running_workers

    if as_json:
        rows = [job_summary(j) for j in jobs]
        print_json(rows[0] if len(rows) == 1 else rows)
    else:
        for j in jobs:
            typer.echo(j.id)
    workers = running_workers(h)
    if not workers:
        typer.echo("aetui: no worker is running; start one with `aetui worker` (or `aetui worker --detach`)", err=True)
        return
    served = {d for w in workers for d in w.get("devices", [])}
    pinned = sorted({j.device for j in jobs if j.device != "auto" and j.device not in served})
    if pinned:
        typer.echo(f"aetui: no running worker uses {', '.join(pinned)}; start one with "
                   f"`aetui worker --devices {','.join(pinned)}`", err=True)
    wide = max((getattr(j, "gpus", 1) for j in jobs), default=1)
    if wide > 1 and not any(len(w.get("devices", [])) >= wide for w in workers):
        typer.echo(f"aetui: no running worker has {wide} devices for --gpus {wide}; the job waits for one", err=True)


def runs(
    where: Annotated[Optional[list[str]], typer.Argument(
        help="filter words, all must hold: a status or kind word, tag:NAME, a setting or metric "
             "(lr=1e-3, 'heldout_mse<0.01'), #ID, or text of the label or note", show_default=False)] = None,
    status: Annotated[Optional[str], Opt(help="only jobs with this status (queued, running, done, failed, cancelled)", show_default=False, autocompletion=completers.statuses)] = None,
    kind: Annotated[Optional[str], Opt(help="only jobs of this kind (train, sweep, walk, probe)", show_default=False, autocompletion=lambda: list(JOB_KINDS))] = None,
    limit: Annotated[int, Opt(help="at most this many, newest first (0: all)")] = 50,
    csv: Annotated[bool, Opt("--csv", help="print CSV: summary, tags, note, every setting and metric")] = False,
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """List jobs and runs, newest first.

    Examples: `aetui runs` · `aetui runs --status running` · `aetui runs train done lr=1e-3 tag:best` ·
    `aetui runs 'heldout_mse<0.01' --csv > runs.csv` · `aetui runs --json | jq '.[].id'`
    """
    from aetui.errors import UserError
    from aetui.jobs import job_summary
    from store.sqlite_read import list_jobs
    from store.states import STATUSES

    if status is not None and status not in STATUSES:
        raise UserError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
    if kind is not None and kind not in JOB_KINDS:
        raise UserError(f"unknown kind {kind!r}; one of {', '.join(JOB_KINDS)}")
    if not 0 <= limit <= LIMITS["job_id"]:
        raise UserError(f"--limit {limit}: a count of jobs, 0 for all")
    if json and csv:
        raise UserError("--json and --csv: choose one")
    text = " ".join(where or [])
    if text:
        from aetui.jobs import check_filter

        check_filter(text)
    h = home_of(home, write=False)
    # straight from the SQLite file (no SQLAlchemy import: this verb starts ~1 s sooner)
    jobs = None if text or csv else list_jobs(h.db_url, status=status, kind=kind, limit=limit or None)
    if jobs is None:  # a filter or CSV, another backend, or a schema the light reader does not know
        from store import queries

        jobs = queries.list_jobs(h.db, status=status, kind=kind, limit=limit or None, text=text or None)
    if csv:
        _print_csv(h, jobs)
        return
    if json:
        print_json([job_summary(j) for j in jobs])
        return
    from aetui.cli.render import jobs_table

    jobs_table(jobs)


def _print_csv(h, jobs) -> None:
    import csv as csv_module
    import sys

    from aetui.jobs import table_rows

    rows = table_rows(h, jobs)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    out = csv_module.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    out.writeheader()
    for r in rows:
        out.writerow({k: _csv_cell(v) for k, v in r.items()})


def _csv_cell(value):
    import json as json_module

    if isinstance(value, (dict, list)):
        return json_module.dumps(value)
    return "" if value is None else value


def tag(job_id: JobIdArg,
        tags: Annotated[list[str], typer.Argument(help="tags: letters, digits and _ . + -", show_default=False)],
        remove: Annotated[bool, Opt("--remove", help="take these tags off")] = False,
        json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Tag a job (filter by tag with `aetui runs tag:NAME`, or `tag:NAME` in the dashboard).

    Examples: `aetui tag 3 baseline best` · `aetui tag 3 best --remove`
    """
    from aetui import jobs

    now = jobs.tag(home_of(home, needs=f"no job {job_id}"), check_job_id(job_id), tags, remove=remove)
    if json:
        print_json({"id": job_id, "tags": now})
    else:
        typer.echo(f"job {job_id}: tags {' '.join(now) or '(none)'}")


def note(job_id: JobIdArg,
         text: Annotated[list[str], typer.Argument(help="the note (empty: remove it)", show_default=False)] = None,
         json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Write a free-text note on a job (it replaces the one before; `aetui show` prints it).

    Example: `aetui note 3 "lr too high: diverges after 1k steps"`
    """
    from aetui import jobs

    job = jobs.note(home_of(home, needs=f"no job {job_id}"), check_job_id(job_id), " ".join(text or []))
    if json:
        print_json({"id": job_id, "note": job.note})
    else:
        typer.echo(f"job {job_id}: " + (f"note: {job.note}" if job.note else "note removed"))


def show(job_id: JobIdArg, json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Everything known about one job and its run: spec, status, metrics, attempts, files.

    Examples: `aetui show 3` · `aetui show 3 --json`
    """
    from aetui.jobs import job_detail

    detail = job_detail(home_of(home, needs=f"no job {job_id}", write=False), check_job_id(job_id))
    if json:
        print_json(detail)
        return
    from aetui.cli.render import job_panel

    job_panel(detail)


def cancel(job_id: JobIdArg, json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Cancel a queued job, or stop a running one (its worker checkpoints it first).

    Example: `aetui cancel 3`
    """
    from aetui import jobs

    job = jobs.cancel(home_of(home, needs=f"no job {job_id}"), check_job_id(job_id))
    _print_job(job, json, JobStatus.CANCELLED if job.status == JobStatus.CANCELLED else "stopping (cancel sent to its worker)")


def retry(job_id: JobIdArg, json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Queue a failed or cancelled job again; it resumes from its last checkpoint.

    Example: `aetui retry 3`
    """
    from aetui import jobs

    job = jobs.retry(home_of(home, needs=f"no job {job_id}"), check_job_id(job_id))
    _print_job(job, json, "queued again")


def priority(job_id: JobIdArg, value: Annotated[int, typer.Argument(help="new priority (higher runs first)")],
             json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Change a job's priority.

    Example: `aetui priority 3 10`
    """
    from aetui import jobs

    check_priority(value)
    job = jobs.set_priority(home_of(home, needs=f"no job {job_id}"), check_job_id(job_id), value)
    _print_job(job, json, f"priority {value}")


def delete(job_id: JobIdArg, yes: Annotated[bool, Opt("--yes", "-y", help="do not ask")] = False,
           json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Delete a finished job: its rows and its run folder.

    Example: `aetui delete 3 --yes`
    """
    from aetui import jobs

    check_job_id(job_id)
    h = home_of(home, needs=f"no job {job_id}")
    if not yes and not typer.confirm(f"delete job {job_id} and its run folder?"):
        raise typer.Exit(1)
    jobs.delete(h, job_id)
    if json:
        print_json({"id": job_id, "deleted": True})
    else:
        typer.echo(f"job {job_id}: deleted")


def pause(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Pause the queue: running jobs go on, no new job starts.

    Example: `aetui pause`
    """
    _set_paused(home, True, json)


def resume(json: JsonOpt = False, home: HomeOpt = None) -> None:
    """Resume a paused queue.

    Example: `aetui resume`
    """
    _set_paused(home, False, json)


def _set_paused(home: str | None, paused: bool, as_json: bool) -> None:
    from store.queue import set_paused

    set_paused(home_of(home).db, paused)
    if as_json:
        print_json({"paused": paused})
    else:
        typer.echo("queue paused" if paused else "queue resumed")


def _print_job(job, as_json: bool, what: str) -> None:
    from aetui.jobs import job_summary

    if as_json:
        print_json(job_summary(job))
    else:
        typer.echo(f"job {job.id}: {what}")


