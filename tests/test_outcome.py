"""`aetui.worker.outcome.outcome`: how the worker records a job whose process ended
without recording it (every case of the decision, no processes or store)."""

from __future__ import annotations

import signal

import pytest

from aetui.worker.execute import EXIT_DONE, EXIT_FAILED, EXIT_STOPPED
from aetui.worker.outcome import OOM_HINT, Outcome, outcome
from store.states import JobStatus

TERM, KILL, SEGV = -int(signal.SIGTERM), -int(signal.SIGKILL), -int(signal.SIGSEGV)
CANCELLED, QUEUED, FAILED = JobStatus.CANCELLED, JobStatus.QUEUED, JobStatus.FAILED
TAIL = "Traceback | boom"
CRASH = "job process ended without a result"

CASES = [
    # code, cancel_requested, stopping, term_sent -> status, error
    pytest.param(TERM, True, False, True, CANCELLED, "cancelled by user", id="cancel: our SIGTERM"),
    pytest.param(KILL, True, False, True, CANCELLED, "cancelled by user", id="cancel: SIGKILL after the grace"),
    pytest.param(EXIT_STOPPED, True, True, True, CANCELLED, "cancelled by user", id="cancel wins over a stop"),
    pytest.param(EXIT_FAILED, True, False, False, CANCELLED, "cancelled by user", id="cancel: crashed meanwhile"),
    pytest.param(EXIT_STOPPED, False, True, True, QUEUED, None, id="stop: checkpointed, requeue"),
    pytest.param(EXIT_STOPPED, False, True, False, QUEUED, None, id="stop: stopped before our signal"),
    pytest.param(TERM, False, True, True, QUEUED, None, id="stop: died of our SIGTERM while starting"),
    pytest.param(KILL, False, True, True, QUEUED, None, id="stop: our SIGKILL after the grace"),
    pytest.param(TERM, False, True, False, FAILED, f"{CRASH} (killed by signal {-TERM}); {TAIL}",
                 id="stop: a SIGTERM that was not ours"),
    pytest.param(SEGV, False, True, True, FAILED, f"{CRASH} (killed by signal {-SEGV}); {TAIL}",
                 id="stop: crashed meanwhile"),
    pytest.param(EXIT_STOPPED, False, False, False, FAILED, f"{CRASH} (exit code {EXIT_STOPPED}); {TAIL}",
                 id="stopped without a stop asked"),
    pytest.param(EXIT_FAILED, False, False, False, FAILED, f"{CRASH} (exit code {EXIT_FAILED}); {TAIL}",
                 id="exit 1 without recording"),
    pytest.param(EXIT_DONE, False, False, False, FAILED, f"{CRASH} (exit code 0); {TAIL}",
                 id="exit 0 without recording"),
    pytest.param(KILL, False, False, False, FAILED, f"{CRASH} (killed by signal {-KILL}{OOM_HINT}); {TAIL}",
                 id="SIGKILL not ours: out of memory?"),
    pytest.param(KILL, False, False, True, FAILED, f"{CRASH} (killed by signal {-KILL}); {TAIL}",
                 id="SIGKILL after our SIGTERM, no stop or cancel"),
    pytest.param(SEGV, False, False, False, FAILED, f"{CRASH} (killed by signal {-SEGV}); {TAIL}",
                 id="segfault"),
]


@pytest.mark.parametrize("code, cancel_requested, stopping, term_sent, status, error", CASES)
def test_outcome(code, cancel_requested, stopping, term_sent, status, error):
    end = outcome(code, cancel_requested=cancel_requested, stopping=stopping, term_sent=term_sent,
                  tail=lambda: TAIL)
    assert end == Outcome(status, error, crashed=status == FAILED)


STALL = "stalled: no progress for 2 s after step 3"

STALL_CASES = [
    # code, cancel_requested, stopping, stalls_before -> status, error, crashed
    pytest.param(KILL, False, False, 0, QUEUED, STALL, False, id="stalled, killed after the grace: requeue once"),
    pytest.param(TERM, False, False, 0, QUEUED, STALL, False, id="stalled, died of our SIGTERM: requeue once"),
    pytest.param(EXIT_STOPPED, False, False, 0, QUEUED, STALL, False, id="stalled, stopped unrecorded: requeue"),
    pytest.param(KILL, False, False, 1, FAILED, STALL, False, id="stalled a second time: failed"),
    pytest.param(KILL, False, False, 3, FAILED, STALL, False, id="stalled again: failed"),
    pytest.param(KILL, True, False, 0, CANCELLED, "cancelled by user", False, id="stalled but cancelled: cancel wins"),
    pytest.param(KILL, False, True, 1, QUEUED, None, False, id="stalled while the worker stops: the stop wins"),
    pytest.param(SEGV, False, False, 0, FAILED, f"{CRASH} (killed by signal {-SEGV}); {TAIL}", True,
                 id="stalled, then crashed on its own: a crash"),
]


@pytest.mark.parametrize("code, cancel_requested, stopping, stalls_before, status, error, crashed", STALL_CASES)
def test_outcome_of_a_stalled_job(code, cancel_requested, stopping, stalls_before, status, error, crashed):
    end = outcome(code, cancel_requested=cancel_requested, stopping=stopping, term_sent=True, tail=lambda: TAIL,
                  stalled=STALL, stalls_before=stalls_before)
    assert end == Outcome(status, error, crashed=crashed)


def test_the_log_is_read_only_for_a_crash():
    def tail() -> str:
        raise AssertionError("read the log of a job that did not crash")

    assert outcome(TERM, cancel_requested=True, stopping=False, term_sent=True, tail=tail).status == CANCELLED
    assert outcome(EXIT_STOPPED, cancel_requested=False, stopping=True, term_sent=True, tail=tail).status == QUEUED
