"""What users do with jobs: the functions the CLI and the dashboard both call.

Each takes a `Home`, validates with `aetui.specs`, and changes state only through
`store.queue`. Errors a user can fix come out as `UserError`. An experiment (sweep,
walk, probe) is checked against the model it runs on first (`describe_target`: a
finished training job or a checkpoint file) and queued by `submit_experiment`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from aetui.errors import UserError
from aetui.home import Home, check_runs_root
from aetui.run_owner import resolve
from aetui.specs import ModelInfo, parse_spec
from store.states import JobStatus, is_stopping


@contextmanager
def _queue_errors() -> Iterator[None]:
    from store.queue import QueueError

    try:
        yield
    except QueueError as e:
        raise UserError(str(e)) from None


def plan(home: Home, kind: str, specs: list[dict[str, Any]], extra_code: dict[str, Any] | None = None
         ) -> tuple[list[Any], list[dict[str, Any]]]:
    """The validated specs, and the snapshots of your own code each would take (role ->
    `aetui.code_snapshot.Snapshot`): what `submit` queues, and `aetui queue --dry-run` lists.
    Reads files, writes nothing; UserError (one line) at the first problem."""
    parsed = [parse_spec(kind, s) for s in specs]
    for spec in parsed:
        check = getattr(spec, "check_files", None)
        if check is not None:
            check(home.path)  # UserError: a file is missing or unreadable
    snapshots = []
    for spec in parsed:
        take = getattr(spec, "snapshots", None)
        snaps = {**(extra_code or {}), **(take() if take is not None else {})}
        if snaps:
            spec.code = {role: snap.manifest() for role, snap in snaps.items()}
        snapshots.append(snaps)
    return parsed, snapshots


def submit(home: Home, kind: str, specs: list[dict[str, Any]], *, priority: int = 0, device: str = "auto",
           after: int | None = None, parent: int | None = None, extra_code: dict[str, Any] | None = None,
           warn: Callable[[str], None] | None = None) -> list[Any]:
    """Validate every spec first, then queue them all (one group when more than one).

    Nothing is written unless every spec is valid and its files exist. Your own model and
    data code is read before anything is queued and written into each job's run folder
    (`extra_code`: more of it, e.g. the home's snapshot of an outside checkpoint's model);
    what a snapshot left out goes to `warn`.
    """
    from aetui.worker.devices import parse_device

    try:
        device = parse_device(device)
    except ValueError as e:
        raise UserError(str(e)) from None
    parsed, snapshots = plan(home, kind, specs, extra_code)
    if parent is not None:
        describe_job(home, parent)  # the parent must be a finished training run
    from store.queue import enqueue_many

    for spec in parsed:
        _check_devices(spec, device)
    check_runs_root(home.runs)  # UserError: no run folder could be made there (a poison job)
    from aetui.settings_diff import differing, labelled

    dumps = [spec.model_dump(mode="json") for spec in parsed]
    differ = differing(dumps)  # a grid's labels say how its jobs differ (lr=..., seed=...)
    rows = [dict(kind=kind, spec=dump, label=labelled(spec.label, dump, differ),
                 total_steps=getattr(spec, "steps", 0) or 0, gpus=getattr(spec, "gpus", 1))
            for spec, dump in zip(parsed, dumps)]
    from aetui.run_owner import stored_root
    from store.ids import highest_run_folder

    root = stored_root(home.path, home.runs)
    prepare = (lambda jobs: _write_snapshots(home, root, jobs, snapshots)) if any(snapshots) else None
    with _queue_errors():
        jobs = enqueue_many(home.db, rows, run_root=root, priority=priority, device=device, after_id=after,
                            parent_id=parent, id_floor=highest_run_folder(home.runs), prepare=prepare)
    for role, snap in (snapshots[0] if snapshots else {}).items():  # the same files in every job of a grid
        for line in snap.warnings:
            if warn is not None:
                warn(f"WARNING: the snapshot of {role} {snap.ref.short} {line}")
    return jobs


def _write_snapshots(home: Home, root: str, jobs: list[Any], snapshots: list[dict[str, Any]]) -> None:
    """Each job's code into its run folder (claimed for it first), before the jobs are
    committed: no worker runs one without its code. If a write fails, the folders made
    are removed and nothing is queued (UserError)."""
    import shutil

    from aetui.run_layout import RunLayout, run_dir
    from aetui.run_owner import claim_run_dir

    made = []
    try:
        for job, snaps in zip(jobs, snapshots):
            folder = resolve(home.path, run_dir(root, job.id))
            made.append(folder)
            layout = RunLayout.at(claim_run_dir(folder, job.uid, job.id))
            for role, snap in snaps.items():
                snap.write(layout.code_dir(role), layout.code_manifest(role))
    except OSError as e:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)
        raise UserError(f"cannot write the snapshot of your code into the run folder: {e.strerror or e}; "
                        f"nothing was queued") from None


def _check_devices(spec: Any, device: str) -> None:
    """A job on several devices takes whichever are free: it cannot be pinned to one."""
    gpus = getattr(spec, "gpus", 1)
    if gpus > 1 and device != "auto":
        raise UserError(f"--gpus {gpus} runs on any {gpus} free devices: leave --device at auto (not {device})")


def describe_job(home: Home, job_id: int) -> ModelInfo:
    """The model of a finished training job, from its spec in the store (no torch);
    UserError unless the job is one."""
    from store import queries

    with _queue_errors():
        job = queries.get_job(home.db, job_id)
    if job.kind != "train":
        raise UserError(f"job {job_id} is a {job.kind} job, not a training run")
    if job.status != JobStatus.DONE:
        raise UserError(f"job {job_id} is {job.status}, not a finished training run")
    offers = None
    if ":" in str(job.spec.get("model")):  # your own model: what it offers, recorded when it trained
        run = queries.get_run(home.db, job_id)
        offers = (run.results or {}).get("model") if run is not None else None
    return ModelInfo.from_train_spec(job.spec, f"job {job_id}", offers)


def describe_checkpoint(path: Path) -> ModelInfo:
    """The model of a checkpoint file; UserError unless it is a plain aetui checkpoint."""
    from aetui.experiments.checkpoint import CheckpointError, load
    from aetui.models.catalog import validate

    try:
        state = load(path)
    except CheckpointError as e:
        raise UserError(str(e)) from None
    except Exception as e:  # torch.load fails in many ways on files that are not checkpoints
        raise UserError(f"{path} is not a plain checkpoint (weights_only load failed: {type(e).__name__})") from None
    try:
        info = ModelInfo.from_state(state, str(path))
        if info.custom:
            if not isinstance(info.code, dict) or not info.code.get("sha256"):
                raise ValueError("your own model without the sha256 of its code")
        else:
            validate(info.model, info.res, **info.options)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path} is not an aetui checkpoint (bad model config: {e})") from None
    return info


def describe_target(home: Home, target: str) -> tuple[ModelInfo, int | None, str | None]:
    """(model, parent job id, checkpoint path) of a job id or a checkpoint file path."""
    text = target.strip()
    if text.isdigit():
        return describe_job(home, int(text)), int(text), None
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"{target!r} is neither a job id nor an existing checkpoint file")
    if not path.is_file():
        raise UserError(f"{target} is not a checkpoint file")
    path = path.resolve()
    return describe_checkpoint(path), None, str(path)


def submit_experiment(home: Home, kind: str, fields: dict[str, Any], target: str, *,
                      priority: int = 0, device: str = "auto") -> Any:
    """Validate a sweep/walk/probe against the model it runs on, then queue it.

    `target` is a finished training job's id (it becomes the job's parent) or a
    checkpoint file (an outside model: no parent, the spec holds the path). Nothing is
    queued unless every check passes.
    """
    info, parent, checkpoint = describe_target(home, target)
    data = {k: v for k, v in fields.items() if v is not None}
    if checkpoint is not None:
        data["checkpoint"] = checkpoint
    spec = parse_spec(kind, data)
    spec.check_model(info)  # UserError: this experiment cannot run on that model
    extra = None
    if info.custom and checkpoint is not None and spec.model is None:
        extra = {"model": home_snapshot(home, info)}
    (job,) = submit(home, kind, [spec.model_dump(mode="json")], priority=priority, device=device, parent=parent,
                    extra_code=extra)
    return job


def home_snapshot(home: Home, info: ModelInfo) -> Any:
    """The snapshot of an outside checkpoint's own model: one under this home's runs with
    the sha256 the checkpoint names (a checkpoint never brings code of its own)."""
    from aetui.code_snapshot import find_snapshot

    sha = str((info.code or {}).get("sha256"))
    found = find_snapshot(home.runs, "model", sha)
    if found is None:
        raise UserError(f"{info.source} is of your own model {info.model.rpartition('/')[2]}: no snapshot of its "
                        f"code with sha256 {sha[:12]} under this home; name its file with --model PATH.py:NAME")
    return found


def cancel(home: Home, job_id: int):
    from store import queue

    with _queue_errors():
        return queue.cancel(home.db, job_id=job_id)


def get_jobs(home: Home, job_ids: list[int]) -> list[Any]:
    """The jobs with these ids, in that order; UserError naming the first that does not exist."""
    from store import queries

    with _queue_errors():
        return [queries.get_job(home.db, j) for j in job_ids]


def job_logs(home: Home, job_id: int) -> tuple[Path, Path]:
    """(stdout, stderr) of a job's run folder, every kind alike (they may not exist yet)."""
    from aetui.run_layout import RunLayout
    from store import queries

    with _queue_errors():
        queries.get_job(home.db, job_id)
    run = queries.get_run(home.db, job_id)
    layout = RunLayout.at(resolve(home.path, run.run_dir)) if run else RunLayout.of(home.runs, job_id)
    return layout.stdout, layout.stderr


def retry(home: Home, job_id: int):
    from store import queue

    with _queue_errors():
        return queue.retry(home.db, job_id=job_id)


def set_priority(home: Home, job_id: int, priority: int):
    from store import queue

    with _queue_errors():
        return queue.set_priority(home.db, job_id=job_id, priority=priority)


def set_paused(home: Home, paused: bool) -> None:
    """Pause the queue (workers start nothing new; running jobs go on) or resume it."""
    from store.queue import set_paused as store_set_paused

    store_set_paused(home.db, paused)


def is_paused(home: Home) -> bool:
    from store.queries import is_paused as store_is_paused

    return store_is_paused(home.db)


def tag(home: Home, job_id: int, tags: list[str], *, remove: bool = False) -> list[str]:
    """Put tags on a job (or take them off); its tags after. UserError on a bad tag."""
    from store.filters import check_tag
    from store.queue import set_tags

    try:
        tags = [check_tag(t.strip()) for t in tags]
    except ValueError as e:
        raise UserError(str(e)) from None
    if not tags:
        raise UserError("give at least one tag")
    with _queue_errors():
        return set_tags(home.db, job_id=job_id, remove=tags) if remove else set_tags(home.db, job_id=job_id, add=tags)


NOTE_LIMIT = 2000  # characters: a note, not a lab notebook


def note(home: Home, job_id: int, text: str) -> Any:
    """Replace a job's note; an empty text removes it."""
    from store.queue import set_note

    text = "".join(c for c in " ".join(text.split()) if c.isprintable())  # one line, no control characters
    if len(text) > NOTE_LIMIT:
        raise UserError(f"the note is {len(text)} characters long; at most {NOTE_LIMIT}")
    with _queue_errors():
        return set_note(home.db, job_id=job_id, note=text)


def check_filter(text: str) -> str:
    """A filter (`store.filters`) the store can run, or UserError."""
    from store.filters import parse

    for term in parse(text):
        if term.what == "compare" and term.number is None and term.op not in ("=", "!="):
            raise UserError(f"{term.key}{term.op}{term.value}: < and > compare numbers, "
                            f"and {term.value!r} is not one")
    return text


def usage_total(attempts: list[Any]) -> dict[str, Any]:
    """What all attempts of a job used together: the highest GPU memory, the mean GPU
    utilization over every sample, and the CPU seconds summed."""
    used = [a.usage for a in attempts if getattr(a, "usage", None)]
    if not used:
        return {}
    peaks = [u["gpu_mem_peak"] for u in used if u.get("gpu_mem_peak") is not None]
    samples = [(u["gpu_util_mean"], u.get("gpu_samples") or 1) for u in used if u.get("gpu_util_mean") is not None]
    cpu = [u["cpu_s"] for u in used if u.get("cpu_s") is not None]
    out: dict[str, Any] = {}
    if peaks:
        out["gpu_mem_peak"] = max(peaks)
    if samples:
        out["gpu_util_mean"] = round(sum(m * n for m, n in samples) / sum(n for _, n in samples), 4)
    if cpu:
        out["cpu_s"] = round(sum(cpu), 3)
    return out


def delete(home: Home, job_id: int) -> None:
    """Delete a finished job: its rows and its run folder together."""
    import shutil

    from store import queue

    with _queue_errors():
        run = queue.delete(home.db, job_id=job_id)
    folder = resolve(home.path, run.run_dir) if run is not None else None
    if folder is not None and folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")


def job_summary(job: Any) -> dict[str, Any]:
    """The row of `aetui runs --json`: what a table of jobs shows."""
    return {
        "id": job.id, "kind": job.kind, "status": job.status, "label": job.label,
        "model": job.spec.get("model"), "res": job.spec.get("res"), "priority": job.priority,
        "device": job.assigned_device or job.device, "gpus": getattr(job, "gpus", 1), "step": job.step, "total_steps": job.total_steps,
        "loss": job.loss, "images_per_s": job.images_per_s, "eta_s": job.eta_s,
        "parent_id": job.parent_id, "after_id": job.after_id, "group_id": job.group_id,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at), "ended_at": iso(job.ended_at),
        "error": job.error, "last_line": getattr(job, "last_line", None),
        # a running job whose cancel was asked (shown `stopping…`): derived, not a status
        "stopping": is_stopping(job.status, job.cancel_requested),
    }


def job_detail(home: Home, job_id: int) -> dict[str, Any]:
    """Everything known about one job and its run (`aetui show --json`)."""
    from store import queries

    with _queue_errors():
        job = queries.get_job(home.db, job_id)
    run = queries.get_run(home.db, job_id)
    attempts = queries.attempts(home.db, job_id)
    out = job_summary(job)
    metrics = dict(run.metrics) if run else {}
    out.update({
        "spec": job.spec,
        "steps_done": metrics.get("steps_done", job.step),
        "metrics": metrics,
        "results": dict(run.results) if run else {},
        "artifacts": dict(run.artifacts) if run else {},
        "run_dir": str(resolve(home.path, run.run_dir)) if run else None,
        "host": run.host if run else None,
        # the Slurm job that runs or ran it (`worker --executor slurm`): id, state, node, logs
        "slurm": dict(run.results.get("slurm") or {}) or None if run else None,
        "versions": dict(run.versions) if run else {},
        "git_commit": run.git_commit if run else None,
        "requested_device": job.device,
        "updated_at": iso(job.updated_at),
        "children": [c.id for c in queries.children(home.db, job_id)],
        "attempts": [
            {"number": a.number, "start_step": a.start_step, "end_step": a.end_step, "outcome": a.outcome,
             "worker": a.worker, "host": a.host, "pid": a.pid, "device": a.device,
             "started_at": iso(a.started_at), "ended_at": iso(a.ended_at), "error": a.error,
             "usage": a.usage}
            for a in attempts
        ],
        "requeue_command": requeue_command(job),
        "tags": queries.tags_for(home.db, [job_id]).get(job_id, []),
        "note": job.note,
        "usage": usage_total(attempts),
    })
    out.update({"points": out["results"].get("points", [])} if job.kind == "sweep" else {})  # a sweep's table
    return out


def table_rows(home: Home, jobs: list[Any]) -> list[dict[str, Any]]:
    """`aetui runs --csv`: each job's summary, tags and note, then its settings (the
    spec's fields and model options) and its run's metrics, one column each (a metric
    named as a setting is `run.<name>`)."""
    from aetui.settings_diff import flat
    from store import queries

    ids = [j.id for j in jobs]
    tags, runs = queries.tags_for(home.db, ids), queries.runs_for(home.db, ids)
    rows = []
    for j in jobs:
        row = {**job_summary(j), "tags": " ".join(tags.get(j.id, [])), "note": j.note or ""}
        settings = flat(j.spec or {})
        row.update({k: v for k, v in settings.items() if k not in row})
        metrics = runs[j.id].metrics if j.id in runs else {}
        row.update({(f"run.{k}" if k in row else k): v for k, v in metrics.items()})
        rows.append(row)
    return rows


def requeue_command(job: Any) -> str:
    """The CLI line that would queue this job again (non-default settings only)."""
    from aetui.specs import TrainSpec

    if job.kind != "train":
        return f"aetui retry {job.id}" if job.status in (JobStatus.FAILED, JobStatus.CANCELLED) else ""
    from pydantic import ValidationError

    try:
        spec = TrainSpec.model_validate(job.spec)
    except ValidationError:  # queued before a rule it breaks (builtin data at res 16): not queued again as is
        return ""
    defaults = TrainSpec(model=spec.model, res=spec.res, data=spec.data)  # its options' defaults at its res
    parts = ["aetui", "queue", spec.model, "--res", str(spec.res)]
    changed = {k: v for k, v in spec.options.items() if v != defaults.options.get(k)}
    if spec.custom:  # your own model's options go as --opt key=value (JSON scalars)
        import json

        parts += [f"--opt {key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in changed.items()]
        changed = {}
    changed.update({k: getattr(spec, k) for k, field in TrainSpec.model_fields.items()
                    if k not in ("kind", "model", "res", "options", "code")
                    and getattr(spec, k) != field.get_default(call_default_factory=True)})
    for key, value in changed.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else flag.replace("--", "--no-", 1))
        elif value is not None:
            parts += [flag, str(value)]
    if job.priority:
        parts += ["--priority", str(job.priority)]
    if job.device != "auto":
        parts += ["--device", job.device]
    return " ".join(parts)


def wait_until_finished(home: Home, job_ids: list[int], poll_s: float = 0.5) -> None:
    from store import queries

    while any(queries.get_job(home.db, j).status in (JobStatus.QUEUED, JobStatus.RUNNING) for j in job_ids):
        time.sleep(poll_s)
