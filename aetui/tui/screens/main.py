"""The main screen: the queue and runs table, its filter and sort, and the devices.

Data flow: the table asks for windows (`JobTable.WindowWanted`); a thread worker reads
them from SQLite and posts `WindowLoaded`; a 1 s timer reads only the rows changed
since the newest `updated_at` seen and patches them in place (or reloads the window
when rows came, went, or moved under the current filter and sort).
"""

from __future__ import annotations

import threading

from textual import work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Static
from textual.worker import get_current_worker

from aetui.tui.data.devices import DevicesReport
from aetui.tui.data.rows import JobRow
from aetui.tui.data.window import FILTER_STATUSES, STATIC_SORTS, Changes, JobQuery
from aetui.tui.messages import OpDone
from aetui.tui.screens.job_actions import JOB_BINDINGS, JobActions
from aetui.tui.widgets.devices_panel import DevicesPanel
from aetui.tui.widgets.filter_editor import prompt as filter_prompt
from aetui.tui.widgets.job_table import JobTable
from aetui.tui.widgets.keys_footer import KeysFooter
from aetui.tui.widgets.status_tabs import StatusTabs


OVERLAP_S = 2.0


class WindowLoaded(Message):
    def __init__(self, query: JobQuery, offset: int, rows: list[JobRow], total: int, *,
                 follow_id: int | None, counts: dict[str, int] | None = None) -> None:
        super().__init__()
        self.query, self.offset, self.rows, self.total = query, offset, rows, total
        self.follow_id, self.counts = follow_id, counts


class WindowFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class StoreReady(Message):
    """The store is open: live refresh and window fetches may start."""

    def __init__(self, seen: float) -> None:
        super().__init__()
        self.seen = seen


class ChangesLoaded(Message):
    def __init__(self, query: JobQuery, changes: Changes) -> None:
        super().__init__()
        self.query, self.changes = query, changes


class DevicesLoaded(Message):
    def __init__(self, report: DevicesReport) -> None:
        super().__init__()
        self.report = report


class MainScreen(JobActions, Screen):
    """Queue and runs, devices, and every action on a job."""

    AUTO_FOCUS = "JobTable"

    BINDINGS = [
        Binding("s", "cycle_status", "Status", tooltip="cycle the status filter"),
        # priority, awaited: a letter typed right behind `o` (one burst) must reach the menu
        Binding("o", "sort_menu", "Sort", priority=True, tooltip="sort by a column: o, then its letter"),
        Binding("O", "reverse_sort", "Reverse sort", show=False, tooltip="newest/oldest, high/low"),
        Binding("r", "results", "Results", tooltip="the run's pictures: grids, triplets, frames"),
        Binding("c", "compare", "Compare", tooltip="the marked runs side by side"),
        Binding("e", "report", "Write report", show=False,
                tooltip="an HTML report of the marked jobs (else the selected one) into <home>/reports/"),
        *JOB_BINDINGS,
        Binding("escape", "clear", "Clear filter and marks", show=False),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="read the table's rows again"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_state = JobQuery()
        self.seen: float | None = None
        self._poll_timer: Timer | None = None
        self._filter_timer: Timer | None = None
        self._polling = False
        self._poll_again = False
        self._applied: dict[int, float] = {}  # job id -> updated_at of the row last patched in
        self._first_frame = threading.Event()  # the first rows are on the terminal

    # ---- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusTabs(id="status-tabs")
        yield Static("", id="filter", markup=False)
        yield JobTable(id="jobs")
        yield DevicesPanel(id="devices")
        yield KeysFooter()

    @property
    def table(self) -> JobTable:
        return self.query_one(JobTable)

    def on_mount(self) -> None:
        self.query_one("#filter").display = False
        self._first_load()
        interval = getattr(self.app, "poll_s", 1.0)
        self._poll_timer = self.set_interval(interval, self._poll)
        self.set_interval(max(2.0, interval * 2), self._sample_devices)

    def selected_job(self) -> JobRow | None:
        return self.table.current

    # ---- loading ------------------------------------------------------------------------------
    @work(thread=True, group="first-load", exit_on_error=False)
    def _first_load(self) -> None:
        from aetui.tui.data.window import first_page

        query = self.query_state
        fast = first_page(self.app.home.db_url, 80) if query == JobQuery() else None
        if fast is not None:  # paint now; the store (SQLAlchemy) finishes loading below
            rows, total, counts, seen = fast
            self.post_message(WindowLoaded(query, 0, rows, total, follow_id=None, counts=counts))
            # importing SQLAlchemy holds the GIL for most of a second: let the rows reach the
            # terminal first (the UI sets this after that frame; the timeout covers a lost one)
            self._first_frame.wait(timeout=1.0)
        try:
            from store.queries import count_jobs, newest_update

            from aetui.tui.data.window import fetch_window

            db = self.app.home.db  # opening the store (and importing sqlmodel) happens here, off the UI
            if fast is None:
                seen = newest_update(db)
                rows, total = fetch_window(db, query, 0, 80)
                counts = count_jobs(db)
        except Exception as e:
            self.post_message(OpDone("load", None, f"cannot read the store: {e}", error=True))
            return
        # `seen` is from the first read, so changes made while the store loaded are picked up
        self.post_message(StoreReady(seen))
        if fast is None:
            self.post_message(WindowLoaded(query, 0, rows, total, follow_id=None, counts=counts))

    def _reload(self, *, follow: bool = False, offset: int | None = None) -> None:
        table = self.table
        if offset is None:
            offset = max(0, round(table.scroll_y) - table.body_height)
        follow_id = table.current.id if follow and table.current else None
        self._fetch(self.query_state, offset, table.body_height * 3 + 10, follow_id)

    @work(thread=True, exclusive=True, group="window", exit_on_error=False)
    def _fetch(self, query: JobQuery, offset: int, limit: int, follow_id: int | None) -> None:
        from aetui.tui.data.window import fetch_window

        try:
            rows, total = fetch_window(self.app.home.db, query, offset, limit)
        except Exception as e:  # busy or broken store: say so; the next scroll or poll asks again
            self.post_message(WindowFailed(str(e)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(WindowLoaded(query, offset, rows, total, follow_id=follow_id))

    def on_window_failed(self, message: WindowFailed) -> None:
        self.table.forget_pending()
        self.notify(f"cannot read the jobs: {message.error}", severity="error", timeout=5)

    def on_job_table_window_wanted(self, message: JobTable.WindowWanted) -> None:
        if self.seen is None:
            return  # the first load is on its way
        self._fetch(self.query_state, message.offset, message.limit, None)

    def on_window_loaded(self, message: WindowLoaded) -> None:
        if message.query != self.query_state:
            return  # the filter or sort changed while it loaded
        self.table.set_window(message.offset, message.rows, message.total, query=message.query,
                              follow_id=message.follow_id)
        if not self._first_frame.is_set():
            self.call_after_refresh(self._first_frame.set)
        if message.counts is not None:
            self.query_one(StatusTabs).update(counts=message.counts)

    def on_store_ready(self, message: StoreReady) -> None:
        self.seen = message.seen
        self._sample_devices_now()
        self.table.request_window()

    # ---- live refresh ---------------------------------------------------------------------------
    def _poll(self) -> None:
        if self.seen is None:
            return
        if self._polling:
            self._poll_again = True  # a read is on its way but may predate what we want to see
            return
        self._polling = True
        # re-read a short overlap: a commit can land with an updated_at older than the newest seen
        self._fetch_changes(self.query_state, self.seen - OVERLAP_S)

    @work(thread=True, exclusive=True, group="poll", exit_on_error=False)
    def _fetch_changes(self, query: JobQuery, since: float) -> None:
        from aetui.tui.data.window import fetch_changes

        try:
            changes = fetch_changes(self.app.home.db, query, since)
        except Exception:  # the database is busy or being replaced: try again next tick
            self.post_message(ChangesLoaded(query, Changes([], since, {}, -1, False)))
            return
        self.post_message(ChangesLoaded(query, changes))

    def on_changes_loaded(self, message: ChangesLoaded) -> None:
        self._polling = False
        if self._poll_again:
            self._poll_again = False
            self.call_later(self._poll)
        ch = message.changes
        if ch.total < 0:
            return
        self.seen = max(self.seen or 0.0, ch.seen)
        self.query_one(StatusTabs).update(counts=ch.counts)
        if message.query != self.query_state:
            return
        table = self.table
        reload = ch.overflow or ch.total != table.total
        query = self.query_state
        fresh = [r for r in ch.rows if self._applied.get(r.id) != r.updated_at]
        self._applied = {r.id: r.updated_at for r in ch.rows}  # only the overlap can repeat
        window = table.window_ids()
        for row in fresh:
            in_window = row.id in window
            if row.id not in ch.matched:
                reload = reload or in_window
                continue
            if query.sort not in STATIC_SORTS:
                reload = True
            elif in_window:
                table.replace_row(row)
        if reload:
            self._reload(follow=True)
        else:
            table.ensure_window()  # e.g. after a failed read

    def on_screen_resume(self) -> None:
        self.refresh_now()  # something may have changed while another screen was on top

    def refresh_now(self) -> None:
        """Read the store's changes at once (after an action of ours)."""
        self._poll()

    # ---- devices ------------------------------------------------------------------------------
    def _sample_devices(self) -> None:
        if self.seen is not None:
            self._sample_devices_now()

    @work(thread=True, exclusive=True, group="devices", exit_on_error=False)
    def _sample_devices_now(self) -> None:
        sampler = getattr(self.app, "devices_sampler", None)
        if sampler is None:
            from aetui.tui.data.devices import sample

            sampler = sample
        try:
            report = sampler(self.app.home)
        except Exception:
            return
        self.post_message(DevicesLoaded(report))

    def on_devices_loaded(self, message: DevicesLoaded) -> None:
        self.query_one(DevicesPanel).update(message.report)

    # ---- filter and sort -------------------------------------------------------------------------
    def _set_query(self, query: JobQuery) -> None:
        if query == self.query_state:
            return
        self.query_state = query
        self.query_one(StatusTabs).update(query=query)
        self.table.reset_position()
        self._reload(offset=0)

    def on_job_table_filter_changed(self, message: JobTable.FilterChanged) -> None:
        line = self.query_one("#filter", Static)
        line.display = not message.done
        line.update(filter_prompt(message.text))
        if self._filter_timer is not None:
            self._filter_timer.stop()
        q = self.query_state
        query = JobQuery(q.status, message.text, q.sort, q.descending)
        if message.done:
            self._set_query(query)
        else:  # while typing: follow after a short pause, not on every key
            self._filter_timer = self.set_timer(0.15, lambda: self._set_query(query))

    def action_clear(self) -> None:
        q = self.query_state
        if q.text or q.status:
            self.table.filter_text = ""
            self._set_query(JobQuery(None, "", q.sort, q.descending))
        elif self.table.marked:
            self.table.clear_marks()

    def action_cycle_status(self) -> None:
        q = self.query_state
        nxt = FILTER_STATUSES[(FILTER_STATUSES.index(q.status) + 1) % len(FILTER_STATUSES)]
        self._set_query(JobQuery(nxt, q.text, q.sort, q.descending))

    def on_status_tabs_chosen(self, message: StatusTabs.Chosen) -> None:
        q = self.query_state
        self._set_query(JobQuery(message.status, q.text, q.sort, q.descending))

    async def action_sort_menu(self) -> None:
        from aetui.tui.screens.sort_menu import SortMenu

        await self._keys_before()
        if self._typing():
            raise SkipAction()
        q = self.query_state
        await self.app.push_screen(SortMenu(q.sort, q.descending), self._sort_chosen)

    def _sort_chosen(self, key: str | None) -> None:
        """A new column keeps the direction; the current one again reverses it."""
        if key is not None:
            q = self.query_state
            self._set_query(JobQuery(q.status, q.text, key, q.descending != (key == q.sort)))

    def action_reverse_sort(self) -> None:
        q = self.query_state
        self._set_query(JobQuery(q.status, q.text, q.sort, not q.descending))

    def sort_by(self, key: str, descending: bool | None = None) -> None:
        q = self.query_state
        if descending is None:
            descending = not q.descending if key == q.sort else True
        self._set_query(JobQuery(q.status, q.text, key, descending))

    def on_job_table_sort_clicked(self, message: JobTable.SortClicked) -> None:
        self.sort_by(message.key)

    def action_reload(self) -> None:
        self._reload(follow=True)

    # ---- navigation ------------------------------------------------------------------------------
    def on_job_table_opened(self, message: JobTable.Opened) -> None:
        from aetui.tui.screens.run import RunScreen

        self.app.push_screen(RunScreen(message.row))

    def on_job_table_marks_changed(self, message: JobTable.MarksChanged) -> None:
        self.query_one(StatusTabs).update(marked=len(message.marked))

    def action_results(self) -> None:
        from aetui.tui.screens.results import ResultsScreen

        if (row := self._need_job()) is not None:
            self.app.push_screen(ResultsScreen(row))

    def action_compare(self) -> None:
        from aetui.tui.screens.compare import CompareScreen

        marked = sorted(self.table.marked)
        if len(marked) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        self.app.push_screen(CompareScreen(marked))

    def action_report(self) -> None:
        ids = sorted(self.table.marked)
        if not ids:
            if (row := self._need_job()) is None:
                return
            ids = [row.id]
        self.notify(f"writing the report of {_ids_text(ids)}…", timeout=2)
        self._write_report(ids)

    @work(thread=True, group="report", exit_on_error=False)
    def _write_report(self, ids: list[int]) -> None:
        from aetui.errors import UserError
        from aetui.report import default_path, write_report

        home = self.app.home
        try:
            path = write_report(home, ids, default_path(home, ids), make_folder=True)
        except UserError as e:
            self.post_message(OpDone("report", None, str(e), error=True))
            return
        except Exception as e:  # a bug or an unreadable run folder: say so, keep the dashboard up
            self.post_message(OpDone("report", None, f"report failed: {type(e).__name__}: {e}", error=True))
            return
        self.post_message(OpDone("report", None, f"report of {_ids_text(ids)} written to {path}"))

    def after_op(self, message: OpDone) -> None:
        if message.op == "delete" and not message.error:
            self.table.marked.discard(message.job_id)
        self.refresh_now()
        if message.op in ("pause", "worker"):
            self._sample_devices_now()  # the devices strip says whether it is paused, which workers run
        if message.op == "delete":
            self._reload(follow=False)


def _ids_text(ids: list[int]) -> str:
    return ", ".join(f"#{i}" for i in ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")
