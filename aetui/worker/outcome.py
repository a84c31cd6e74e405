"""How the worker records a job whose process ended without recording it itself.

A job's child normally records its own end (done, failed with the reason, requeued after
a stop: `aetui.worker.execute`). When the worker reaps a child and finds the job still
`running` under its own lease, the child could not: it was killed, or its interpreter
crashed, or it died of our SIGTERM before its handler existed. `outcome` decides from
what the worker knows, without touching the store, so a table-driven test covers every case
(tests/test_outcome.py). A job on several devices whose gang crashed gets a second look in
`aetui.worker.gang.crash_verdict` (resume it, up to a cap), which needs the job's history.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Callable

from aetui.worker.execute import EXIT_STOPPED
from store.states import JobStatus

OOM_HINT = ", not by aetui: the kernel's out-of-memory killer?"
STALL_REQUEUES = 1  # a job stopped as stalled goes back to the queue this often, then fails


@dataclass(frozen=True)
class Outcome:
    status: JobStatus  # the job's next state: cancelled, queued or failed
    error: str | None = None  # the reason, kept on the attempt (and on the job when it fails)
    crashed: bool = False  # it ended without a result (not a stop or a cancel we asked for)


def outcome(code: int, *, cancel_requested: bool, stopping: bool, term_sent: bool,
            tail: Callable[[], str] = lambda: "", stalled: str | None = None, stalls_before: int = 0) -> Outcome:
    """The end of a job whose process exited with `code` (negative: killed by that signal).

    cancel_requested: a user cancelled the job; stopping: the worker is stopping (it asked
    its children to checkpoint and requeue); term_sent: the worker sent this child SIGTERM
    (a cancel, a stop, or a stall), so a SIGKILL after it is the worker's too; tail: the end
    of the child's log, read only for a crash; stalled: why the worker stopped it as stalled
    (no progress for too long), and stalls_before: how many earlier attempts stalled. A
    stalled job is requeued once (it may have hung on something passing), then failed;
    `stalled` is the reason on the attempt and the job, not a status of its own."""
    if cancel_requested:
        return Outcome(JobStatus.CANCELLED, "cancelled by user")
    ended_by_our_signal = term_sent and code in (-signal.SIGTERM, -signal.SIGKILL)
    if stopping and (code == EXIT_STOPPED or ended_by_our_signal):
        # a child still starting up when our SIGTERM came dies of it before its handler
        # exists: that is the stop we asked for, not a crash
        return Outcome(JobStatus.QUEUED)
    if stalled is not None and (ended_by_our_signal or code == EXIT_STOPPED):
        return Outcome(JobStatus.QUEUED if stalls_before < STALL_REQUEUES else JobStatus.FAILED, stalled)
    why = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
    if code == -signal.SIGKILL and not term_sent:
        why += OOM_HINT
    return Outcome(JobStatus.FAILED, f"job process ended without a result ({why}); {tail()}", crashed=True)
