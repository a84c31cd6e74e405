"""The worker's notifier: a background thread that empties the store's outbox.

Each notice (one job's ending, written by whoever recorded it: `store.queue`) is claimed,
sent through every channel (`channels.py`, each stopped at its timeout), and marked
sent; a failed try is tried again later, up to `MAX_TRIES`. It runs beside the worker's
loop, never in it: a slow, hanging or failing notifier delays and fails no job.

`[notify] on` says which endings send a message. With `group` in it, the jobs of a grid
or an `--after` chain send no message of their own: the last of them to end makes one
notice for all (`store.outbox.group_of`), sent like the others.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from aetui.home import Home
from aetui.notify.channels import Channels
from aetui.notify.message import Message
from store.states import JobStatus, NoticeEvent

MAX_TRIES = 4
RETRY_S = (5.0, 30.0, 120.0)  # after the first, second, third failed try
POLL_S = 1.0
PARALLEL = 4  # notices sent at once
KEEP_S = 30 * 24 * 3600.0  # notices older than this are deleted when a sender starts
MAX_AGE_S = 24 * 3600.0  # a notice older than this when a sender first sees it is not sent (stale news)
FINAL_EVENTS = (NoticeEvent.DONE, NoticeEvent.FAILED, NoticeEvent.CANCELLED)


def wanted(event: str, status: str, on: list[str]) -> bool:
    """Does `[notify] on` ask for this notice? A job stopped for making no progress is
    `stalled`; if that stop failed it, `failed` asks for it too."""
    return event in on or (event == NoticeEvent.STALLED and status == JobStatus.FAILED and NoticeEvent.FAILED in on)


def group_status(statuses: list[str]) -> str:
    for worst in (JobStatus.FAILED, JobStatus.CANCELLED):
        if worst in statuses:
            return str(worst)
    return str(JobStatus.DONE)


class Sender:
    def __init__(self, home: Home, channels: Channels, log: Callable[[str], None] = print,
                 poll_s: float = POLL_S):
        self.home, self.channels, self.log, self.poll_s = home, channels, log, poll_s
        self.oldest = time.time() - MAX_AGE_S
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from store import outbox

        outbox.prune(self.home.db, before=time.time() - KEEP_S)
        self._thread = threading.Thread(target=self._run, name="aetui-notify", daemon=True)
        self._thread.start()

    def stop(self, drain_s: float | None = None) -> None:
        """Stop after one last pass over what is due, waiting for it at most `drain_s`
        (default: one channel timeout and a little: channels and notices go side by side), so the last jobs' messages go out
        before a `--until-empty` worker exits; the thread is a daemon past that."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.channels.timeout_s + 5 if drain_s is None else drain_s)

    def _run(self) -> None:
        while True:
            stopping = self._stop.is_set()
            try:
                self.pass_once()
            except Exception as e:  # a store hiccup: the next pass tries again
                from aetui.config import redact

                self.log(f"notify: {redact(str(e).splitlines()[0] if str(e) else type(e).__name__)}")
            if stopping:
                return
            self._stop.wait(self.poll_s)

    def pass_once(self) -> int:
        """Send what is due; returns how many notices were handled."""
        from store import outbox

        db = self.home.db
        if not outbox.has_due(db, max_tries=MAX_TRIES, oldest=self.oldest):
            return 0
        handled = 0
        while True:
            notices = outbox.claim(db, hold_s=self.channels.timeout_s * 2 + 30, max_tries=MAX_TRIES,
                                   oldest=self.oldest)
            if not notices:
                return handled
            # side by side: each channel is a process that mostly waits (apprise's import, the network)
            with ThreadPoolExecutor(min(len(notices), PARALLEL)) as pool:
                list(pool.map(self._handle, notices))
            handled += len(notices)

    def _handle(self, notice) -> None:
        from store import outbox

        db, on = self.home.db, self.channels.on
        message = None
        if notice.event == outbox.GROUP_EVENT:
            message = self._group_message(notice)
        else:
            grouped = NoticeEvent.GROUP in on and notice.event in FINAL_EVENTS and self._maybe_group(notice)
            if not grouped and wanted(notice.event, notice.status, on):
                message = self._job_message(notice)
        problems = self.channels.send(message) if message is not None else []
        if problems:
            tries_left = MAX_TRIES - notice.tries
            wait = RETRY_S[min(notice.tries - 1, len(RETRY_S) - 1)]
            later = f"; trying again in {wait:g} s" if tries_left > 0 else "; giving up"
            self.log(f"notify: job {notice.job_id} {notice.event}: {'; '.join(problems)}{later}")
            outbox.mark_failed(db, notice.id, "; ".join(problems), wait)
        else:
            if message is not None:
                self.log(f"notify: sent {message.title!r}")
            outbox.mark_sent(db, notice.id)

    def _maybe_group(self, notice) -> bool:
        """True when the job belongs to a grid or chain (its own message is the group's);
        the last of them to end writes the group's notice."""
        from store import outbox

        group = outbox.group_of(self.home.db, notice.job_id)
        if len(group.jobs) < 2:
            return False
        if group.ended:
            statuses = [status for _, status, _ in group.jobs]
            started, ended = outbox.group_times(self.home.db, [i for i, _, _ in group.jobs])
            took = (ended - started) if started is not None and ended is not None else None
            outbox.add_group_notice(self.home.db, group, status=group_status(statuses),
                                    label=group.jobs[0][2], error=None, duration_s=took)
        return True

    def _group_message(self, notice) -> Message | None:
        from store import outbox

        if NoticeEvent.GROUP not in self.channels.on:
            return None
        group = outbox.group_of(self.home.db, notice.job_id)
        ids = [i for i, _, _ in group.jobs]
        counts = Counter(status for _, status, _ in group.jobs)
        return Message(event=NoticeEvent.GROUP, status=notice.status, job_id=notice.job_id, label=notice.label,
                       duration_s=notice.duration_s, job_ids=ids, counts=dict(counts))

    def _job_message(self, notice) -> Message:
        from aetui.run_owner import resolve

        run_dir = str(resolve(self.home.path, notice.run_dir)) if notice.run_dir else ""
        return Message(event=notice.event, status=notice.status, job_id=notice.job_id, label=notice.label,
                       error=notice.error, run_dir=run_dir, duration_s=notice.duration_s)


def start_for_worker(home: Home, log: Callable[[str], None]) -> Sender | None:
    """The worker's sender, started; None when no channel is configured (nothing is sent,
    the outbox keeps its notices for a worker that has one)."""
    channels = Channels.from_config()
    if not channels.any:
        return None
    sender = Sender(home, channels, log=log)
    log(f"notify: on {', '.join(channels.on) or 'nothing'} through {'; '.join(channels.describe())}")
    sender.start()
    return sender
