"""One run: its summary and latest result image on top, then tabs for the loss curve (or
any scalar the run logged: `s` picks it), the log (followed while it runs), the spec, the
attempts and the checkpoints.

Three thread workers feed it: the detail (store rows + result files, re-read every
second while the job is active), the curve (TensorBoard, re-read when the event files
grew) and the log tail (only the bytes appended since the last read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from rich.columns import Columns
from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import RichLog, Static, TabbedContent, TabPane

from aetui.run_summary import summary, usage_line
from aetui.status_style import colour
from aetui.tui import format as fmt
from aetui.run_layout import RunLayout
from aetui.tui.data.curves import LOSS_TAG
from aetui.tui.data.results import Results
from aetui.tui.data.rows import JobRow
from aetui.tui.messages import OpDone
from aetui.tui.screens.graphics_screen import GraphicsScreen
from aetui.tui.screens.job_actions import JOB_BINDINGS, JobActions
from aetui.tui.widgets.image_view import ImageView
from aetui.tui.widgets.keys_footer import KeysFooter
from aetui.tui.widgets.loss_plot import LossPlot, series
from store.states import JobStatus

TABS = ("loss", "log", "spec", "attempts", "checkpoints")


@dataclass
class RunData:
    row: JobRow
    detail: dict[str, Any]
    results: Results
    checkpoints: list[tuple[str, int, float]] = field(default_factory=list)


def load_run(home, job_id: int) -> RunData:
    """Everything the run screen shows except the curve and the log (blocking)."""
    from store.queries import get_job

    from aetui.jobs import job_detail
    from aetui.tui.data.results import checkpoints, load_results

    detail = job_detail(home, job_id)
    row = JobRow.from_job(get_job(home.db, job_id))
    results = load_results(detail["kind"], detail.get("run_dir"), detail.get("artifacts"), detail.get("results"))
    return RunData(row=row, detail=detail, results=results, checkpoints=checkpoints(detail.get("run_dir")))


class DetailLoaded(Message):
    def __init__(self, data: RunData | None, error: str | None = None) -> None:
        super().__init__()
        self.data, self.error = data, error


class CurveLoaded(Message):
    def __init__(self, points: list[tuple[int, float]], tag: str, tags: list[str]) -> None:
        super().__init__()
        self.points, self.tag, self.tags = points, tag, tags


class LogLines(Message):
    def __init__(self, lines: list[str]) -> None:
        super().__init__()
        self.lines = lines


# how soon a summary line gives way when the box is too short for all of them (0 never:
# what the job is and does now; the rest, highest first, move to the Spec tab)
KEEP, MEASURES, CONTEXT, WHERE, TRIVIA = range(5)
LEADING_METRICS = 2  # the summary's first metrics (final and held-out loss) stay longest


class SummaryLine(NamedTuple):
    name: str  # what the Spec tab's note calls it when it gives way
    value: Any
    rank: int  # KEEP ... TRIVIA
    label: str | None = None  # shown left of the value (None: the name)


def summary_rows(d: dict[str, Any], row: JobRow) -> list[SummaryLine]:
    """The summary's lines as (name, value, rank): rank says how soon the line gives way
    when the box is short (`fit_summary`)."""
    rows: list[SummaryLine] = []
    shown = row.shown_status if d["status"] == row.status else d["status"]
    status = Text(shown, style=f"bold {colour(d['status'])}")
    if d.get("attempts"):
        status.append(f"  attempt {len(d['attempts'])}", style="dim")
    rows.append(SummaryLine("status", status, KEEP))
    if d.get("tags"):  # what the user said about the job, near the top (t and a change them)
        rows.append(SummaryLine("tags", Text(" ".join(d["tags"]), style="cyan"), MEASURES))
    if d.get("note"):
        rows.append(SummaryLine("note", d["note"], CONTEXT))
    if row.total_steps:
        rows.append(SummaryLine("progress", f"{row.step}/{row.total_steps} {fmt.bar(row.fraction, 12)} {row.fraction * 100:.0f}%",
                     KEEP))
    if row.phase:  # before the first step: what takes the time
        rows.append(SummaryLine("doing", Text(row.phase, style="bold"), KEEP))
    live = [f"loss {fmt.num(row.loss)}" if row.loss is not None else "",
            f"{fmt.rate(row.images_per_s)} img/s" if row.images_per_s and row.status == JobStatus.RUNNING else "",
            f"ETA {fmt.duration(row.eta_s)}" if row.eta_s and row.status == JobStatus.RUNNING else ""]
    if any(live):
        rows.append(SummaryLine("now", whole_items([x for x in live if x]), KEEP))
    if d.get("error"):
        rows.append(SummaryLine("error", Text(d["error"], style="red"), KEEP))
    metrics = [f"{k} {fmt.num(v) if isinstance(v, float) else v}" for k, v in summary(d.get("metrics") or {})]
    if metrics:  # the losses first; the rest (speed, time, size) give way sooner
        rows.append(SummaryLine("metrics", whole_items(metrics[:LEADING_METRICS]), MEASURES))
    if metrics[LEADING_METRICS:]:
        rows.append(SummaryLine("more metrics", whole_items(metrics[LEADING_METRICS:]), TRIVIA, label=""))
    if used := usage_line(d.get("usage")):
        rows.append(SummaryLine("used", used, CONTEXT))
    device = d.get("device") or "—"
    where = f"{device}" + (f" on {d['host']}" if d.get("host") else "") + f"  (asked {d.get('requested_device')})"
    rows.append(SummaryLine("device", where, WHERE))
    if d.get("parent_id"):
        rows.append(SummaryLine("parent", f"#{d['parent_id']}", CONTEXT))
    if d.get("children"):
        rows.append(SummaryLine("children", " ".join(f"#{c}" for c in d["children"]), CONTEXT))
    times = [f"{k} {local_time(d[f'{k}_at'])}" for k in ("created", "started", "ended") if d.get(f"{k}_at")]
    rows.append(SummaryLine("times", whole_items(times) if times else "—", WHERE))
    rows.append(SummaryLine("priority", str(d.get("priority", 0)), TRIVIA))
    if d.get("requeue_command"):
        rows.append(SummaryLine("requeue", Text(d["requeue_command"], style="bold"), TRIVIA))
    if d.get("run_dir"):
        rows.append(SummaryLine("folder", d["run_dir"], TRIVIA))
    return rows


def rows_table(rows: list[SummaryLine], *, names: bool = False) -> Table:
    """The lines as a table; `names`: each by its name (away from the lines it continues)."""
    t = Table.grid(padding=(0, 1))
    t.add_column(style="dim", no_wrap=True)
    t.add_column(overflow="fold")
    for line in rows:
        t.add_row(line.name if names or line.label is None else line.label, line.value)
    return t


def fit_summary(rows: list[SummaryLine], height: int, measure) -> tuple[Any, list[SummaryLine]]:
    """The summary for a box `height` lines tall, and the lines left out: the lines of the
    highest rank give way first, newest-listed first, until the rest and a line naming
    them fit (`measure(renderable)` says how many lines it takes at the box's width).
    Rank 0 lines always stay. At 80x24 the box is 10 lines; all of a finished run's
    summary took 23, and the box scrolled."""
    kept = list(rows)
    left: list[SummaryLine] = []

    def shown():
        if not left:
            return rows_table(kept)
        names = ", ".join(line.name for line in sorted(left, key=rows.index))
        return Group(rows_table(kept), Text(f"more in 3 Spec: {names}", style="dim", no_wrap=True, overflow="ellipsis"))

    while measure(shown()) > height:
        droppable = [r for r in kept if r.rank > KEEP]
        if not droppable:
            break
        worst = max(droppable, key=lambda r: (r.rank, kept.index(r)))
        kept.remove(worst)
        left.append(worst)
    return shown(), sorted(left, key=rows.index)


def whole_items(items: list[str]) -> Columns:
    """`items` side by side as the width allows, each kept whole: a narrow summary wraps
    between `started 2024-06-01 10:01:01` and the next, never inside a date and time or
    between a metric's name and its value."""
    return Columns([Text(item, no_wrap=True, overflow="ellipsis") for item in items], padding=(0, 2))


def local_time(iso_text: str) -> str:
    """An ISO time of `job_detail` (UTC) as the local `YYYY-MM-DD HH:MM:SS` of the table."""
    from datetime import datetime

    try:
        return fmt.stamp(datetime.fromisoformat(iso_text).timestamp())
    except ValueError:
        return iso_text


def spec_table(d: dict[str, Any], left: list[SummaryLine] = ()) -> Group:
    """The spec, after the summary's lines that did not fit above (`fit_summary`)."""
    t = Table.grid(padding=(0, 2))
    t.add_column(style="dim", no_wrap=True)
    t.add_column(overflow="fold")
    for k, v in (d.get("spec") or {}).items():
        t.add_row(k, json.dumps(v) if isinstance(v, (dict, list)) else str(v))
    parts: list[Any] = [rows_table(left, names=True), Text("")] if left else []
    if d.get("requeue_command") and not any(line.name == "requeue" for line in left):
        parts += [Text("requeue with (y copies it):", style="dim"), Text(d["requeue_command"], style="bold"),
                  Text("")]
    return Group(*parts, t)


def attempts_table(d: dict[str, Any]) -> Table | Text:
    rows = d.get("attempts") or []
    if not rows:
        return Text("no attempts yet: the job has not been claimed by a worker", style="dim")
    t = Table(box=None, padding=(0, 1), expand=False, header_style="bold")
    for col in ("#", "outcome", "steps", "device", "worker", "started", "ended", "error"):
        # times and counts stay whole (a wrap inside `12-02 13:17` misreads); the rest folds
        t.add_column(col, overflow="fold", no_wrap=col in ("#", "steps", "started", "ended"))
    for a in rows:
        steps = f"{a['start_step']}→{a['end_step'] if a['end_step'] is not None else '…'}"
        t.add_row(str(a["number"]), Text(a["outcome"], style=colour(a["outcome"])), steps,
                  a.get("device") or "", a.get("worker") or "", local_time(a["started_at"])[5:16] if a.get("started_at") else "",
                  local_time(a["ended_at"])[5:16] if a.get("ended_at") else "", a.get("error") or "")
    return t


def checkpoints_table(items: list[tuple[str, int, float]]) -> Table | Text:
    if not items:
        return Text("no checkpoints yet", style="dim")
    t = Table(box=None, padding=(0, 1), header_style="bold")
    t.add_column("file")
    t.add_column("size", justify="right")
    t.add_column("written", no_wrap=True)
    for name, size, mtime in items:
        t.add_row(name, fmt.size(size), fmt.stamp(mtime))
    return t


class RunScreen(JobActions, GraphicsScreen):
    """Enter on a row opens it; escape goes back."""

    BINDINGS = [
        Binding("escape,q,backspace", "back", "Back"),
        Binding("r", "results", "Results"),
        Binding("f", "follow", "Follow log"),
        Binding("L", "log_scale", "Log scale", show=False),
        Binding("s", "pick_scalar", "Plot a scalar", show=False, tooltip="plot any scalar the run logged"),
        Binding("y", "copy_requeue", "Copy requeue cmd", show=False),
        *[Binding(str(n + 1), f"tab('{name}')", name.capitalize(), show=False) for n, name in enumerate(TABS)],
        *JOB_BINDINGS,
    ]

    def __init__(self, row: JobRow) -> None:
        super().__init__()
        self.row = row
        self.data: RunData | None = None
        self._tail = None
        self._busy: set[str] = set()
        self._tb_points: list[tuple[int, float]] = []
        self._live_points: dict[int, float] = {}  # (step, loss) seen in the store while watching
        self.tag: str | None = None  # the scalar plotted (None: the loss, else the first logged)
        self._tags: list[str] = []  # every scalar the run logged, for the picker
        self._shown_tag = LOSS_TAG

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="run-title", markup=False)
        with Horizontal(id="run-top"):
            with VerticalScroll(id="run-summary-box"):
                yield Static("loading…", id="run-summary")
            with Vertical(id="run-image-box"):
                yield Static("", id="run-image-caption", markup=False)
                yield ImageView(id="run-image")
        with TabbedContent(id="run-tabs", initial="tab-loss"):
            with TabPane("1 Loss", id="tab-loss"):
                yield LossPlot(id="run-loss")
            with TabPane("2 Log", id="tab-log"):
                # wrapped (a model summary or a traceback line is wider than 80 columns)
                yield RichLog(id="run-log", max_lines=5000, auto_scroll=True, wrap=True, min_width=20)
            with TabPane("3 Spec", id="tab-spec"):
                with VerticalScroll():
                    yield Static(id="run-spec")
            with TabPane("4 Attempts", id="tab-attempts"):
                with VerticalScroll():
                    yield Static(id="run-attempts")
            with TabPane("5 Checkpoints", id="tab-checkpoints"):
                with VerticalScroll():
                    yield Static(id="run-checkpoints")
        yield KeysFooter()

    def _title(self) -> str:
        r = self.row
        return f"#{r.id} {r.kind} · {r.label or '—'} · {r.shown_status}"

    def on_mount(self) -> None:
        self.query_one("#run-image", ImageView).placeholder = "no result image yet"
        self._refresh_all()
        self.set_interval(getattr(self.app, "poll_s", 1.0), self._tick)

    def selected_job(self) -> JobRow | None:
        return self.row

    # ---- loading ------------------------------------------------------------------------------
    def _tick(self) -> None:
        if self.row.status in (JobStatus.QUEUED, JobStatus.RUNNING) or self.data is None:
            self._refresh_all()

    def _refresh_all(self) -> None:
        for name, start in (("detail", self._load_detail), ("curve", self._load_curve), ("log", self._load_log)):
            if name not in self._busy:
                self._busy.add(name)
                start()

    @work(thread=True, exclusive=True, group="run-detail", exit_on_error=False)
    def _load_detail(self) -> None:
        from aetui.errors import UserError

        try:
            self.post_message(DetailLoaded(load_run(self.app.home, self.row.id)))
        except UserError as e:
            self.post_message(DetailLoaded(None, str(e)))
        except Exception as e:
            self.post_message(DetailLoaded(None, f"{type(e).__name__}: {e}"))

    @work(thread=True, exclusive=True, group="run-curve", exit_on_error=False)
    def _load_curve(self) -> None:
        from aetui.tui.data.curves import default_tag, read_scalars, scalar_tags

        run_dir = self.app.home.run_dir(self.row.id) if self.data is None else self.data.detail.get("run_dir")
        tag = self.tag or LOSS_TAG
        try:
            tags = scalar_tags(run_dir) if run_dir else []
            tag = self.tag or default_tag(tags)
            points = read_scalars(run_dir, tag) if run_dir else []
        except Exception:
            tags, points = [], []
        self.post_message(CurveLoaded(points, tag, tags))

    @work(thread=True, exclusive=True, group="run-log", exit_on_error=False)
    def _load_log(self) -> None:
        from aetui.tui.data.logtail import Tail

        if self._tail is None:
            run_dir = Path(self.data.detail["run_dir"]) if self.data and self.data.detail.get("run_dir") \
                else self.app.home.run_dir(self.row.id)
            self._tail = Tail(list(RunLayout.at(run_dir).logs()))
        try:
            lines = self._tail.read()
        except Exception:
            lines = []
        self.post_message(LogLines(lines))

    def on_detail_loaded(self, message: DetailLoaded) -> None:
        self._busy.discard("detail")
        if message.data is None:
            self.notify(message.error or "cannot load the run", severity="error")
            if self.data is None or "no job" in (message.error or ""):
                self.dismiss()
            return
        first = self.data is None
        self.data = data = message.data
        self.row = data.row
        if data.row.loss is not None and data.row.step and data.row.status == JobStatus.RUNNING:
            self._live_points[data.row.step] = data.row.loss
            self._plot_loss()
        self.query_one("#run-title", Static).update(self._title())
        self._show_summary()
        self.query_one("#run-attempts", Static).update(attempts_table(data.detail))
        self.query_one("#run-checkpoints", Static).update(checkpoints_table(data.checkpoints))
        latest = data.results.latest()
        album = data.results.primary()
        view = self.query_one("#run-image", ImageView)
        caption = self.query_one("#run-image-caption", Static)
        if latest is not None:
            caption.update(album.caption(latest) if album else latest.title)
            if view.path != latest.source:
                view.path = latest.source
        else:
            caption.update("")
        if first and data.row.kind != "train":
            self.query_one(LossPlot).empty_text = f"a {data.row.kind} job has no training loss: r opens its results, s plots a scalar it logged"

    def _show_summary(self) -> None:
        """The summary lines that fit the box (the others head the Spec tab): the box is
        as tall as the screen's top part allows, and scrolled at 80x24 before."""
        if self.data is None:
            return
        box = self.query_one("#run-summary-box", VerticalScroll)
        rows = summary_rows(self.data.detail, self.data.row)
        width = box.content_region.width
        if width > 0 and box.content_region.height > 0:
            console = self.app.console
            options = console.options.update_width(width)
            shown, left = fit_summary(rows, box.content_region.height,
                                      lambda r: len(console.render_lines(r, options, pad=False)))
        else:  # not laid out yet: everything (the resize that follows fits it)
            shown, left = rows_table(rows), []
        self.query_one("#run-summary", Static).update(shown)
        self.query_one("#run-spec", Static).update(spec_table(self.data.detail, left))

    def on_resize(self) -> None:
        self.call_after_refresh(self._show_summary)

    def on_curve_loaded(self, message: CurveLoaded) -> None:
        self._busy.discard("curve")
        if message.tag != (self.tag or message.tag):  # read before another scalar was picked
            return
        self._tb_points, self._tags, self._shown_tag = message.points, message.tags, message.tag
        self._plot_loss()

    def _plot_loss(self) -> None:
        """TensorBoard's points, then the live losses seen in the store past the last one
        TensorBoard has flushed (its writer flushes every couple of minutes)."""
        tag = self._shown_tag
        last = self._tb_points[-1][0] if self._tb_points else -1
        live = sorted((s, v) for s, v in self._live_points.items() if s > last) if tag == LOSS_TAG else []
        plot = self.query_one(LossPlot)
        plot.set_axes("level #" if tag.startswith("sweep/") else "step", "loss" if tag == LOSS_TAG else tag)
        plot.set_series([series(f"#{self.row.id}", [*self._tb_points, *live], 0)])

    def on_log_lines(self, message: LogLines) -> None:
        self._busy.discard("log")
        if message.lines:
            from rich.text import Text

            log = self.query_one(RichLog)
            for line in message.lines:
                log.write(Text(line))

    # ---- actions --------------------------------------------------------------------------------
    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = f"tab-{name}"

    def action_follow(self) -> None:
        log = self.query_one(RichLog)
        log.auto_scroll = not log.auto_scroll
        if log.auto_scroll:
            log.scroll_end(animate=False)
        self.notify("following the log" if log.auto_scroll else "log paused (f follows again)")

    def action_pick_scalar(self) -> None:
        from aetui.tui.screens.scalar_picker import ScalarPicker

        self.app.push_screen(ScalarPicker(self._tags, self._shown_tag), self._scalar_chosen)

    def _scalar_chosen(self, tag: str | None) -> None:
        if tag is None:
            return
        self.tag = tag
        self.action_tab("loss")
        self._busy.discard("curve")
        self._load_curve()

    def action_log_scale(self) -> None:
        plot = self.query_one(LossPlot)
        plot.log_y = not plot.log_y

    def action_copy_requeue(self) -> None:
        cmd = self.data.detail.get("requeue_command") if self.data else None
        if cmd:
            self.app.copy_to_clipboard(cmd)
            self.notify(f"copied: {cmd}")

    def action_results(self) -> None:
        from aetui.tui.screens.results import ResultsScreen

        self.app.push_screen(ResultsScreen(self.row))

    def after_op(self, message: OpDone) -> None:
        if message.op == "delete" and not message.error:
            self.dismiss()
            return
        self._busy.discard("detail")
        self._load_detail()
