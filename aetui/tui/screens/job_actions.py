"""What a researcher does to the selected job, shared by the main and run screens.

Every change goes through `aetui.jobs` (the functions the CLI calls), in a thread
worker; the outcome comes back as an `OpDone` message, and a `UserError` becomes a
notification, never a crash.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Callable

from textual import work
from textual.actions import SkipAction
from textual.binding import Binding
from textual.widgets import Input

from aetui.errors import UserError
from aetui.tui.data.rows import JobRow
from aetui.tui.messages import OpDone
from store.states import JobStatus

# `l` and `n` open a form that queues work. They are priority bindings, checked as each key
# arrives rather than after the key has first been offered to the focused table: keys that
# follow in the same burst (typed ahead over SSH) must reach the form, not the table.
JOB_BINDINGS = [
    Binding("l", "launch", "Launch", priority=True,
            tooltip="start a sweep, walk or probe from this training run"),
    Binding("n", "new_job", "New job", priority=True,
            tooltip="queue a training job (pre-filled from the selected one)"),
    Binding("x", "cancel_job", "Cancel job", show=False, tooltip="a running job checkpoints and stops"),
    Binding("R", "retry_job", "Retry job", show=False, tooltip="a failed or cancelled job, from its checkpoint"),
    Binding("p", "priority", "Set priority", show=False, tooltip="higher runs first"),
    Binding("plus", "priority_step(1)", "Priority +1", show=False),
    Binding("minus", "priority_step(-1)", "Priority -1", show=False),
    Binding("t", "tag_job", "Tags", show=False, tooltip="the job's tags, space-separated (filter: tag:NAME)"),
    Binding("a", "note_job", "Note", show=False, tooltip="annotate: a free-text note on the job"),
    Binding("D,delete", "delete_job", "Delete job", show=False, tooltip="rows and run folder, after a yes"),
    Binding("w", "start_worker", "Start worker", show=False, tooltip="aetui worker --detach"),
    Binding("W", "stop_worker", "Stop worker", show=False,
            tooltip="aetui worker --stop: its running jobs checkpoint and go back to the queue"),
    Binding("P", "toggle_pause", "Pause/resume queue", show=False,
            tooltip="aetui pause / resume: while paused nothing new starts"),
]


class JobActions:
    """Mixin for a Screen: implement `selected_job()`; override `after_op` to refresh."""

    def selected_job(self) -> JobRow | None:  # pragma: no cover - each screen implements it
        raise NotImplementedError

    def after_op(self, message: OpDone) -> None:
        """Called after an operation finished (successfully or not)."""

    # ---- actions ----------------------------------------------------------------------
    def _typing(self) -> bool:
        """Whether the focused widget takes text now (the table's filter, an input): then
        a priority key is typed there instead of acting."""
        focused = self.app.focused
        return bool(getattr(focused, "filtering", False)) or isinstance(focused, Input)

    async def _keys_before(self) -> None:
        """Wait until the focused widget has read the keys sent to it before this one (a
        priority key acts as it arrives: `G l` typed together must launch from the row
        `G` moved to)."""
        import asyncio

        focused = self.app.focused
        if focused is None:
            return
        read = asyncio.Event()
        focused.call_later(read.set)
        await read.wait()

    def _need_job(self) -> JobRow | None:
        row = self.selected_job()
        if row is None:
            self.notify("no job selected", severity="warning")
        return row

    def action_cancel_job(self) -> None:
        if (row := self._need_job()) is not None:
            self.run_op("cancel", row.id)

    def action_retry_job(self) -> None:
        if (row := self._need_job()) is not None:
            self.run_op("retry", row.id)

    def action_priority(self) -> None:
        from aetui.tui.screens.prompt import PromptScreen

        if (row := self._need_job()) is None:
            return

        def done(text: str | None) -> None:
            if text is None or not text.strip():
                return
            try:
                value = int(text)
            except ValueError:
                self.notify(f"priority must be a whole number, not {text!r}", severity="error")
                return
            self.run_op("priority", row.id, value)

        self.app.push_screen(PromptScreen(f"Priority of job #{row.id} (higher runs first):", str(row.priority),
                                          kind="integer"), done)

    def action_tag_job(self) -> None:
        from aetui.tui.screens.prompt import PromptScreen

        from store.queries import tags_for

        if (row := self._need_job()) is None:
            return
        before = tags_for(self.app.home.db, [row.id]).get(row.id, [])

        def done(text: str | None) -> None:
            if text is None:
                return
            after = text.replace(",", " ").split()
            self.run_op("tags", row.id, [t for t in after if t not in before], [t for t in before if t not in after])

        self.app.push_screen(PromptScreen(f"Tags of job #{row.id} (space-separated; delete one to remove it):",
                                          " ".join(before)), done)

    def action_note_job(self) -> None:
        from aetui.tui.screens.prompt import PromptScreen

        from store.queries import get_job

        if (row := self._need_job()) is None:
            return

        def done(text: str | None) -> None:
            if text is not None:
                self.run_op("note", row.id, text)

        note = get_job(self.app.home.db, row.id).note or ""
        self.app.push_screen(PromptScreen(f"Note on job #{row.id} (empty: none):", note), done)

    def action_priority_step(self, delta: int) -> None:
        if (row := self._need_job()) is not None:
            self.run_op("priority", row.id, row.priority + delta)

    def action_delete_job(self) -> None:
        from aetui.tui.screens.confirm import ConfirmScreen

        from store.queries import dependents

        if (row := self._need_job()) is None:
            return
        # the store refuses to delete a job that others depend on: say so instead of asking
        if deps := dependents(self.app.home.db, row.id):
            self.notify(f"job #{row.id} cannot be deleted: {', '.join(f'#{i}' for i in deps)} "
                        f"{'depends' if len(deps) == 1 else 'depend'} on it; delete those first",
                        severity="warning")
            return
        question = (f"Delete job #{row.id} ({row.kind} {row.label})?\n\n"
                    "Its rows (job, run, attempts) and its run folder are removed for good.")

        def done(yes: bool | None) -> None:
            if yes:
                self.run_op("delete", row.id)

        self.app.push_screen(ConfirmScreen(question, yes="Delete"), done)

    async def action_launch(self) -> None:
        from aetui.tui.screens.launch import LaunchScreen

        await self._keys_before()
        if self._typing():
            raise SkipAction()
        if (row := self._need_job()) is None:
            return
        if row.kind != "train" or row.status != JobStatus.DONE:
            self.notify(f"job #{row.id} is a {row.status} {row.kind} job: sweeps, walks and probes start "
                        "from a finished training run", severity="warning")
            return
        # awaited: keys typed right after `l` wait until the form can take them
        await self.app.push_screen(LaunchScreen(parent=row), self._launched)

    async def action_new_job(self) -> None:
        from aetui.tui.screens.launch import LaunchScreen

        await self._keys_before()
        if self._typing():
            raise SkipAction()
        row = self.selected_job()
        source = row if row is not None and row.kind == "train" else None
        await self.app.push_screen(LaunchScreen(kind="train", copy_from=source), self._launched)

    def _launched(self, ids: list[int] | None) -> None:
        if ids:
            self.post_message(OpDone("submit", ids[0], f"queued job{'s' if len(ids) > 1 else ''} "
                                     + ", ".join(f"#{i}" for i in ids)))

    def action_start_worker(self) -> None:
        self._start_worker()

    def action_stop_worker(self) -> None:
        self._ask_stop_worker()

    def action_toggle_pause(self) -> None:
        self._toggle_pause()

    # ---- workers ----------------------------------------------------------------------
    def run_op(self, op: str, job_id: int, *args) -> None:
        self._op(op, job_id, *args)

    @work(thread=True, group="ops", exit_on_error=False)
    def _op(self, op: str, job_id: int, *args) -> None:
        from aetui import jobs

        home = self.app.home
        calls: dict[str, Callable[[], str]] = {
            "cancel": lambda: _cancel_text(jobs.cancel(home, job_id)),
            "retry": lambda: (jobs.retry(home, job_id), f"job #{job_id} queued again")[1],
            "priority": lambda: (jobs.set_priority(home, job_id, *args), f"job #{job_id} priority {args[0]}")[1],
            "delete": lambda: (jobs.delete(home, job_id), f"job #{job_id} deleted with its run folder")[1],
            "tags": lambda: _set_tags(home, job_id, *args),
            "note": lambda: f"job #{job_id}: " + ("note saved" if jobs.note(home, job_id, *args).note else "no note"),
        }
        try:
            text = calls[op]()
        except UserError as e:
            self.post_message(OpDone(op, job_id, str(e), error=True))
            return
        except Exception as e:  # a bug or a broken store: say so, keep the dashboard up
            self.post_message(OpDone(op, job_id, f"{op} failed: {type(e).__name__}: {e}", error=True))
            return
        self.post_message(OpDone(op, job_id, text))

    @work(thread=True, exclusive=True, group="start-worker", exit_on_error=False)
    def _start_worker(self) -> None:
        from aetui.worker.registry import running_workers

        home = self.app.home
        live = [w for w in running_workers(home) if w.get("detached")]
        if live:
            self.post_message(OpDone("worker", None, f"a background worker already runs (pid {live[0]['pid']})",
                                     error=True))
            return
        cmd = [sys.executable, "-m", "aetui", "worker", "--detach", "--home", str(home.path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as e:
            self.post_message(OpDone("worker", None, f"could not start a worker: {e}", error=True))
            return
        text = (proc.stdout.strip() or proc.stderr.strip() or "worker started").splitlines()[-1]
        self.post_message(OpDone("worker", None, text.removeprefix("aetui: "), error=proc.returncode != 0))

    @work(thread=True, exclusive=True, group="stop-worker", exit_on_error=False)
    def _ask_stop_worker(self) -> None:
        """W asks first, as delete does, saying which running jobs the stop sends back to the
        queue; with no background worker it says why there is nothing to stop."""
        from aetui.worker.registry import jobs_running_on, running_workers

        home = self.app.home
        workers = running_workers(home)
        pids = [int(w["pid"]) for w in workers if w.get("detached")]
        if not pids:
            text = (f"no background worker; the worker in a terminal (pid {workers[0]['pid']}) stops with Ctrl-C there"
                    if workers else "no worker runs")
            self.post_message(OpDone("worker", None, text, error=True))
            return
        try:
            running = jobs_running_on(home, pids)
        except Exception as e:  # a busy store: ask anyway, saying what is not known
            running, unknown = [], f"(which jobs it runs is not known: {e})"
        else:
            unknown = ""
        question = f"Stop the background worker (pid {', '.join(map(str, pids))})?\n\n"
        if running:
            shown = "\n".join(f"  #{j.id} {j.kind} {j.label}" for j in running[:5])
            more = f"\n  and {len(running) - 5} more" if len(running) > 5 else ""
            question += (f"{len(running)} running job{'s' if len(running) > 1 else ''} will checkpoint and go back "
                         f"to the queue (requeued):\n{shown}{more}")
        else:
            question += unknown or "No job runs on it now; queued jobs wait until a worker starts (w)."
        self.app.call_from_thread(self._confirm_stop_worker, question)

    def _confirm_stop_worker(self, question: str) -> None:
        from aetui.tui.screens.confirm import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                self._stop_worker()

        self.app.push_screen(ConfirmScreen(question, yes="Stop"), done)

    @work(thread=True, exclusive=True, group="stop-worker", exit_on_error=False)
    def _stop_worker(self) -> None:
        from aetui.worker.registry import stop_background

        pids = stop_background(self.app.home)
        if pids:
            text = (f"stop sent to the background worker (pid {', '.join(map(str, pids))}); "
                    "its running jobs checkpoint and go back to the queue")
        else:
            text = "the background worker had already ended"
        self.post_message(OpDone("worker", None, text, error=not pids))

    @work(thread=True, exclusive=True, group="pause", exit_on_error=False)
    def _toggle_pause(self) -> None:
        from aetui import jobs

        home = self.app.home
        try:
            paused = not jobs.is_paused(home)
            jobs.set_paused(home, paused)
        except Exception as e:  # a busy or broken store: say so, keep the dashboard up
            self.post_message(OpDone("pause", None, f"pause/resume failed: {type(e).__name__}: {e}", error=True))
            return
        self.post_message(OpDone("pause", None, "queue paused: nothing new starts (P resumes)" if paused
                                 else "queue resumed"))

    def on_op_done(self, message: OpDone) -> None:
        message.stop()
        # a report's path stays up long enough to be read and copied
        self.notify(message.text, severity="error" if message.error else "information",
                    timeout=10 if message.op == "report" else 6 if message.error else 3)
        self.after_op(message)


def _set_tags(home, job_id: int, add: list[str], remove: list[str]) -> str:
    from aetui import jobs

    tags = None
    if add:
        tags = jobs.tag(home, job_id, add)
    if remove:
        tags = jobs.tag(home, job_id, remove, remove=True)
    if tags is None:
        return f"job #{job_id}: tags unchanged"
    return f"job #{job_id}: tags {' '.join(tags) or '(none)'}"


def _cancel_text(job) -> str:
    if job.status == JobStatus.CANCELLED:
        return f"job #{job.id} cancelled"
    return f"job #{job.id}: stop sent to its worker (it checkpoints first)"
