"""A job that cannot run here: a fault of the job, or of this host?

A fault of the job (its spec cannot start, its own run folder cannot be made although the
runs root is fine) fails that job with its reason; the worker goes on to the next one.
A fault of the host (this machine cannot write its runs root: a read-only or missing
mount, a file in the way; its device vanished) is no fault of the job: the job goes back
to the queue for a healthy worker, and this worker stops claiming and exits, saying why
in one line (`EXIT_HOST`), instead of failing every job it touches.

Pure decisions over what was raised; the worker and the job's child act on them.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from aetui.home import folder_problem

# What CUDA says when the device itself is gone or unusable (not when the job misused it).
DEVICE_GONE = ("no CUDA-capable device is detected", "CUDA-capable device(s) is/are busy or unavailable",
               "CUDA driver initialization failed", "GPU is lost", "cudaErrorDevicesUnavailable",
               "cudaErrorNoDevice")


@dataclass(frozen=True)
class Fault:
    host: bool  # True: this machine's fault (requeue, stop claiming); False: the job's (fail it)
    reason: str  # one line


def start_fault(run_dir: Path, error: OSError, own_root: Path) -> Fault:
    """The run folder `run_dir` (or its logs) could not be made: whose fault is it?

    `own_root` is this worker's runs root. When it cannot be written here, nor can any
    job's folder under it: the host's fault. A job whose own runs root (the folder that
    holds its run folder) cannot be written while this worker's can was queued with a
    root no machine like this one has (e.g. `/proc/nope`, before the queue refused such
    roots): the job's fault, as is a run folder that cannot be made in a usable root."""
    job_root = Path(run_dir).parent
    problem = folder_problem(job_root)
    if problem is None:
        return Fault(False, f"its run folder {run_dir} cannot be made: {error.strerror or error}")
    own_problem = problem if _same(job_root, own_root) else folder_problem(own_root)
    if own_problem is not None:
        return Fault(True, f"this host cannot write the runs root {own_root}: {own_problem}")
    return Fault(False, f"its runs root {job_root} cannot be written on this host: {problem}")


def _same(a: Path, b: Path) -> bool:
    return Path(a).expanduser().absolute() == Path(b).expanduser().absolute()


def host_fault(error: BaseException) -> str | None:
    """One line when `error`, raised inside a running job, is this host's fault; else None.
    A read-only file system counts also as the cause of what was raised (torch.save's
    RuntimeError from an OSError)."""
    seen, e = set(), error
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno == errno.EROFS:
            where = f" at {e.filename}" if e.filename else ""
            return f"the file system{where} is read-only on this host"
        e = e.__cause__ or e.__context__
    text = str(error)
    for sign in DEVICE_GONE:
        if sign in text:
            return f"this host's device is gone ({sign})"
    return None


def folder_gone(run_dir: Path, error: str) -> str | None:
    """One line when a job failed (`error`: why) after its run folder was deleted while it
    ran: whatever it was writing (TensorBoard's events, a checkpoint) is not the cause. The
    folder is not made again: what was in it is gone, and a resume would start over."""
    if Path(run_dir).is_dir():
        return None
    return f"its run folder {run_dir} was deleted while it ran ({error.splitlines()[0][:300] if error else '?'})"
