"""Run one queued job in this process with a progress bar (`--now`, `aetui demo`)."""

from __future__ import annotations

import signal
import sys
from contextlib import redirect_stdout

from aetui.errors import UserError
from aetui.home import Home
from aetui.worker.execute import EXIT_DONE, execute, host_name, owner_id


def run_now(home: Home, job_id: int, *, device: str = "auto", quiet: bool = False) -> int:
    """Claim `job_id` for this process and run it to its end; returns the EXIT_* code.

    Ctrl-C checkpoints the job and puts it back in the queue.
    """
    import os

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from aetui.worker.devices import discover
    from store import queue

    if device == "auto":
        device = discover()[0]
    job = queue.claim(home.db, worker=owner_id(), host=host_name(), pid=os.getpid(), device=device, job_id=job_id)
    if job is None:
        raise UserError(f"job {job_id} could not be claimed (not queued, or waiting on a dependency)")
    stop = {"asked": False}
    previous = signal.signal(signal.SIGINT, lambda *_: stop.update(asked=True))
    columns = [TextColumn(f"job {job_id} {job.kind}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[loss]}"), TimeRemainingColumn()]
    try:
        with Progress(*columns, disable=quiet, transient=False) as bar:
            task = bar.add_task("run", total=job.total_steps or None, loss="")

            def on_progress(step: int, total: int, loss: float | None) -> None:
                bar.update(task, completed=step, total=total or None, loss=f"loss {loss:.4g}" if loss else "")

            # what the job prints (its phases, model, loss lines: a worker's job log) goes to
            # stderr here: stdout is the command's own answer (`--json`)
            with redirect_stdout(sys.stderr):
                return execute(home, job_id, owner=owner_id(), device=device, on_progress=on_progress,
                               should_stop=lambda: stop["asked"])
    finally:
        signal.signal(signal.SIGINT, previous)


__all__ = ["run_now", "EXIT_DONE"]
