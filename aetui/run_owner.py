"""Run folders: where the store says they are, and which job they belong to.

Where: `Run.run_dir` is relative to the home when the folder lies inside it (a copied or
moved home then uses its own `runs/`, never the original's), absolute when the runs root
lies elsewhere (a shared mount). `stored_root` gives the form to store, `resolve` the path.

Whose: a run folder and its checkpoints belong to one job for good. `claim_run_dir` writes
the job's uid into the folder (`.aetui-job`) when it creates or first uses it, and refuses a
folder that carries another job's uid: after a store was lost or restored from an older
backup, a new job must never resume from, or write into, the files of an old one.
Checkpoints carry the uid too (`CHECKPOINT_KEY`, checked by `check_checkpoint`).
"""

from __future__ import annotations

import os
from pathlib import Path

MARKER = ".aetui-job"
CHECKPOINT_KEY = "job_uid"


class NotOurs(ValueError):
    """A run folder or checkpoint of another job; the text says whose and what to do."""


def stored_root(home_path: Path, runs_root: Path) -> str:
    """The runs root as `Run.run_dir` stores it: relative to the home when inside it."""
    home_path, runs_root = Path(home_path), Path(runs_root)
    try:
        return runs_root.relative_to(home_path).as_posix() or "."
    except ValueError:
        return str(runs_root)


def resolve(home_path: Path, run_dir: str | Path) -> Path:
    """The folder a stored `run_dir` names: relative ones lie in the home."""
    path = Path(run_dir)
    return path if path.is_absolute() else Path(home_path) / path


def owner_of(folder: Path) -> str | None:
    """The uid written in a run folder, or None when it has none (no folder, or an older aetui's)."""
    try:
        return (Path(folder) / MARKER).read_text().strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def claim_run_dir(folder: Path, job_uid: str | None, job_id: int | None = None) -> Path:
    """Create the run folder (or take an unmarked one) for the job with this uid; NotOurs
    when it belongs to another job. Unmarked folders are taken: they come from an older
    aetui, and new ids are never given over existing folders (`store.ids`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not job_uid:
        return folder
    marker = folder / MARKER
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        found = owner_of(folder)
        if found is not None and found != job_uid:
            raise NotOurs(_refusal(folder, found, job_id)) from None
        if found is None:  # an empty marker (a crash between create and write): ours now
            marker.write_text(job_uid + "\n")
        return folder
    with os.fdopen(fd, "w") as f:
        f.write(job_uid + "\n")
    return folder


def check_checkpoint(state: dict, path: Path, job_uid: str | None, job_id: int | None = None) -> None:
    """Refuse to resume from a checkpoint written by another job (one without a uid is an
    older aetui's, in a folder this job already claimed)."""
    found = state.get(CHECKPOINT_KEY) if isinstance(state, dict) else None
    if job_uid and found and found != job_uid:
        raise NotOurs(_refusal(Path(path), str(found), job_id, what="checkpoint"))


def _refusal(path: Path, found: str, job_id: int | None, what: str = "run folder") -> str:
    me = f"job {job_id}" if job_id is not None else "this job"
    return (f"{what} {path} belongs to another job (uid {found[:12]}), not {me}: it is left untouched; "
            f"move it away (or queue the job with another --runs-root) and retry")


def job_run_dir(home, job_id: int, job=None) -> Path:  # noqa: ANN001
    """The run folder of a claimed job, created or checked as its own (NotOurs otherwise):
    what the worker and the job's process call before writing anything into it."""
    from store import queries

    job = job if job is not None else queries.get_job(home.db, job_id)
    run = queries.get_run(home.db, job_id)
    folder = resolve(home.path, run.run_dir) if run is not None else home.run_dir(job_id)
    return claim_run_dir(folder, getattr(job, "uid", None), job_id)
