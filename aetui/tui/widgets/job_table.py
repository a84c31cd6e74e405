"""The runs table: a Line-API view of a window of jobs, never all of them.

The table knows how many rows match (`total`) and holds only the rows of the window
it was given (`set_window`, held by `aetui.tui.data.window_cache.WindowCache`). When the
visible part leaves that window it posts `WindowWanted`; whoever owns the data (the main
screen) fetches that window in a worker and hands it back. Live changes are patched in
place with `replace_row`. The filter is typed here ('/', `filter_editor.FilterEditor`).
Columns that do not fit the width are dropped by priority, so 80 columns stay legible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from aetui.status_style import table_class
from aetui.tui import format as fmt
from aetui.tui.data.rows import JobRow
from aetui.tui.data.window import JobQuery
from aetui.tui.data.window_cache import WindowCache
from aetui.tui.widgets.filter_editor import FilterEditor
from store.states import STATUSES, JobStatus


@dataclass(frozen=True)
class Column:
    key: str  # also the sort key, where sortable
    title: str
    width: int
    priority: int  # columns with a lower number stay when space runs out
    align: str = "left"
    flex: int = 0  # extra width it takes (up to), after every column fits
    sortable: bool = True


COLUMNS = (
    Column("id", "id", 5, 0, "right"),
    Column("kind", "kind", 5, 1),
    Column("model", "model", 9, 1),
    Column("res", "res", 4, 2, "right"),
    Column("status", "status", 9, 0),
    Column("progress", "progress", 12, 0, flex=18),
    Column("loss", "loss", 7, 1, "right"),
    Column("images_per_s", "img/s", 5, 3, "right"),
    Column("eta", "ETA", 6, 2, "right"),
    Column("device", "device", 6, 3),
    Column("priority", "pri", 3, 5, "right"),
    Column("created", "created", 11, 6, sortable=False),
    Column("label", "label", 10, 7, flex=60, sortable=False),
)
GAP = 1


def layout(width: int, id_width: int = 5) -> list[tuple[Column, int]]:
    """The columns that fit `width` cells and the width of each, in display order."""
    # the id column holds the mark (●) and the widest id of the window
    cols = [Column(c.key, c.title, max(c.width, id_width + 1), c.priority, c.align, c.flex) if c.key == "id" else c
            for c in COLUMNS]
    chosen: list[Column] = []
    used = 0
    for col in sorted(cols, key=lambda c: c.priority):
        need = col.width + (GAP if chosen else 0)
        if used + need > width:
            break  # strictly by priority: a narrow minor column never displaces a major one
        chosen.append(col)
        used += need
    widths = {c.key: c.width for c in chosen}
    spare = width - used
    for col in sorted((c for c in chosen if c.flex), key=lambda c: c.priority):
        extra = min(spare, col.flex)
        widths[col.key] += extra
        spare -= extra
    return [(c, widths[c.key]) for c in cols if c.key in widths]


def cell_text(row: JobRow, key: str, width: int, label: str | None = None) -> str:
    """A cell of `row`; `label`: the label it shows (the table tells apart rows that share one)."""
    if key == "id":
        return str(row.id)
    if key == "kind":
        return row.kind
    if key == "model":
        return row.model or (f"↳#{row.parent_id}" if row.parent_id else "")
    if key == "res":
        return "" if row.res is None else str(row.res)
    if key == "status":
        return row.shown_status
    if key == "loss":
        return fmt.num(row.loss, 3, width)
    if key == "images_per_s":
        return fmt.rate(row.images_per_s) if row.status == JobStatus.RUNNING else ""
    if key == "eta":
        return fmt.duration(row.eta_s) if row.status == JobStatus.RUNNING else ""
    if key == "device":
        return row.device
    if key == "priority":
        return str(row.priority)
    if key == "created":
        return fmt.clock(row.created_at)
    if key == "label":
        return row.error if row.status == JobStatus.FAILED and row.error else row.label if label is None else label
    if key == "progress" and row.kind == "command":  # no steps: its time so far and its last line of output
        since = fmt.duration(row.elapsed_s(time.time()))  # this attempt's, not since the first start
        return " ".join(t for t in (since, row.last_line or "") if t)
    if key == "progress":
        if row.phase:  # before its first step: what it does, not 0/2000
            return fmt.phase(row.phase, width)
        steps = f"{row.step}/{row.total_steps}" if row.total_steps else ""
        bar_w = width - len(steps) - 1
        return steps.ljust(len(steps)) + (" " + fmt.bar(row.fraction, bar_w) if bar_w >= 3 else "")
    return ""


class JobTable(ScrollView, can_focus=True):
    """Jobs newest first (or by the chosen column), one line each, a header on top."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "open", "Open", show=True),
        Binding("space", "mark", "Mark", show=True, tooltip="mark for compare"),
        Binding("slash", "start_filter", "Filter", show=True, tooltip="status/kind words, tag:NAME, lr=1e-3, heldout_mse<0.01, #id, text"),
    ]

    COMPONENT_CLASSES = {
        "job-table--header", "job-table--cursor", "job-table--marked", "job-table--sorted",
        *(table_class(s) for s in STATUSES), "job-table--bar", "job-table--loading",
    }


    cursor: reactive[int] = reactive(0, always_update=True, repaint=False)

    class WindowWanted(Message):
        """The visible rows are not all loaded: fetch `limit` rows from `offset`."""

        def __init__(self, offset: int, limit: int) -> None:
            super().__init__()
            self.offset, self.limit = offset, limit

    class Highlighted(Message):
        def __init__(self, row: JobRow | None) -> None:
            super().__init__()
            self.row = row

    class Opened(Message):
        def __init__(self, row: JobRow) -> None:
            super().__init__()
            self.row = row

    class MarksChanged(Message):
        def __init__(self, marked: frozenset[int]) -> None:
            super().__init__()
            self.marked = marked

    class FilterChanged(Message):
        """The filter text being typed (`done`: enter or escape ended the typing)."""

        def __init__(self, text: str, done: bool) -> None:
            super().__init__()
            self.text, self.done = text, done

    class SortClicked(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.total = 0
        self.loaded = False
        self.job_query = JobQuery()
        self.window = WindowCache()
        self.marked: set[int] = set()
        self.filter = FilterEditor()
        self._open_when_loaded = False
        self._columns_cache: tuple[int, int, list] | None = None

    # ---- data in -------------------------------------------------------------------
    def set_window(self, offset: int, rows: list[JobRow], total: int, *, query: JobQuery,
                   follow_id: int | None = None) -> None:
        """Show `rows` at `offset` of `total` matching rows (from a fetch the table asked for)."""
        self.loaded = True
        self.job_query = query
        self.total = total
        self.window.put(offset, rows)
        self.virtual_size = Size(self.size.width, total + 1)
        target = self.window.index_of(follow_id) if follow_id is not None else None
        if target is not None:
            screen_row = self.cursor - round(self.scroll_y)
            self.cursor = target
            self.scroll_to(y=max(0, target - screen_row), animate=False, immediate=True)
        elif self.cursor >= total:
            self.cursor = max(0, total - 1)
        self.refresh()
        self._announce()
        if self._open_when_loaded and self.current is not None:
            self._open_when_loaded = False
            self.post_message(self.Opened(self.current))
        self.call_after_refresh(self._ensure_window)

    def replace_row(self, row: JobRow) -> bool:
        """Update a row of the window in place; False when it is not in the window."""
        index = self.window.replace(row)
        if index is None:
            return False
        self.refresh_line_at(index)
        if index == self.cursor:
            self._announce()
        return True

    def window_ids(self) -> set[int]:
        return self.window.ids()

    def row_at(self, index: int) -> JobRow | None:
        return self.window.get(index)

    @property
    def current(self) -> JobRow | None:
        return self.window.get(self.cursor)

    def reset_position(self) -> None:
        self.cursor = 0
        self.scroll_to(y=0, animate=False, immediate=True)

    def refresh_line_at(self, index: int) -> None:
        y = index - round(self.scroll_y) + 1
        if 1 <= y < self.size.height:
            self.refresh_line(y)

    # ---- window management ---------------------------------------------------------
    @property
    def body_height(self) -> int:
        return max(1, self.size.height - 1)

    def _ensure_window(self) -> None:
        if not self.loaded or self.total == 0:
            return
        wanted = self.window.wanted(round(self.scroll_y), self.body_height, self.cursor, self.total)
        if wanted is not None:
            self.post_message(self.WindowWanted(*wanted))

    def forget_pending(self) -> None:
        """The asked-for window will not come (the read failed): ask again when needed."""
        self.window.forget_pending()

    def request_window(self) -> None:
        """Ask again for the rows in view (e.g. once the data source became ready)."""
        self.window.forget_pending()
        self._ensure_window()

    def ensure_window(self) -> None:
        """Ask for the rows in view if some are missing and none are on their way."""
        self._ensure_window()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        self._ensure_window()

    def on_resize(self, event: events.Resize) -> None:
        self._columns_cache = None
        self.virtual_size = Size(event.size.width, self.total + 1)
        # the selected row stays in view (Enter opens it: it must be the row one sees), once
        # the new height has reached the scroll limits
        self.call_after_refresh(self._scroll_to_cursor)
        self._ensure_window()

    # ---- cursor ------------------------------------------------------------------------
    def watch_cursor(self, old: int, new: int) -> None:
        if old != new:
            self._open_when_loaded = False
        self.refresh_line_at(old)
        self.refresh_line_at(new)
        self._scroll_to_cursor()
        self._ensure_window()
        if old != new:
            self._announce()

    def _announce(self) -> None:
        self.post_message(self.Highlighted(self.current))

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + self.body_height:
            self.scroll_to(y=self.cursor - self.body_height + 1, animate=False, immediate=True)

    def _move(self, index: int) -> None:
        self.cursor = max(0, min(self.total - 1, index)) if self.total else 0

    def action_cursor(self, delta: int) -> None:
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self._move(self.cursor + direction * self.body_height)

    def action_jump(self, where: int) -> None:
        self._move(0 if where == 0 else self.total - 1)

    def action_open(self) -> None:
        if self.current is not None:
            self.post_message(self.Opened(self.current))
        elif self.cursor < self.total:
            self._open_when_loaded = True  # its row is on its way (e.g. enter right after g)

    def action_mark(self) -> None:
        row = self.current
        if row is None:
            return
        self.marked ^= {row.id}
        self.refresh_line_at(self.cursor)
        self.post_message(self.MarksChanged(frozenset(self.marked)))
        self._move(self.cursor + 1)

    def clear_marks(self) -> None:
        self.marked.clear()
        self.refresh()
        self.post_message(self.MarksChanged(frozenset()))

    # ---- typing a filter (read here, not in an Input: see filter_editor) ----------------------
    @property
    def filtering(self) -> bool:
        return self.filter.active

    @property
    def filter_text(self) -> str:
        return self.filter.text

    @filter_text.setter
    def filter_text(self, text: str) -> None:
        self.filter.text = text

    def action_start_filter(self) -> None:
        self.filter.start()
        self.post_message(self.FilterChanged(self.filter.text, done=False))

    async def on_key(self, event: events.Key) -> None:
        if self.filter.active and self.filter.key(event.key, event.character if event.is_printable else None):
            event.stop()
            event.prevent_default()
            self.post_message(self.FilterChanged(self.filter.text, done=not self.filter.active))
            return
        # The table's own keys (moves, enter, space, /) act as the table reads them, in the
        # order typed. As plain bindings they would act only once the key has bubbled back
        # to the app, after a priority key typed behind them (`G l` in one burst launched
        # from the row the cursor left).
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if not binding.priority and await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            x = 0
            for col, width in self._columns():
                if x <= event.x < x + width + GAP and col.sortable:
                    self.post_message(self.SortClicked(col.key))
                    return
                x += width + GAP
            return
        index = round(self.scroll_y) + event.y - 1
        if 0 <= index < self.total:
            self.cursor = index
            if event.chain >= 2:
                self.action_open()

    # ---- drawing -------------------------------------------------------------------------
    def _columns(self) -> list[tuple[Column, int]]:
        width = self.scrollable_content_region.width
        id_width = max(3, len(str(self.window.max_id())))
        key = (width, id_width)
        if self._columns_cache is None or self._columns_cache[:2] != key:
            self._columns_cache = (*key, layout(width, id_width))
        return self._columns_cache[2]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:
            return self._header(width)
        index = round(self.scroll_y) + y - 1
        if index >= self.total:
            if y == 1 and self.total == 0:
                text = "loading…" if not self.loaded else "no jobs" + (" match" if self._filtered() else
                                                                       " yet: press n to queue one")
                style = self.get_component_rich_style("job-table--loading")
                return Strip([Segment(fmt.fit(" " + text, width), style)], width)
            return Strip.blank(width, self.rich_style)
        row = self.window.get(index)
        if row is None:
            style = self.get_component_rich_style("job-table--loading")
            return Strip([Segment(fmt.fit("  …", width), style)], width)
        return self._row_strip(row, index, width)

    def _filtered(self) -> bool:
        return bool(self.job_query.status or self.job_query.text.strip())

    def _header(self, width: int) -> Strip:
        base = self.get_component_rich_style("job-table--header")
        sorted_style = base + self.get_component_rich_style("job-table--sorted")
        segs: list[Segment] = []
        used = 0
        for n, (col, w) in enumerate(self._columns()):
            if n:
                segs.append(Segment(" " * GAP, base))
                used += GAP
            title = col.title
            style = base
            if col.key == self.job_query.sort:
                title = f"{title}{'▼' if self.job_query.descending else '▲'}"
                style = sorted_style
            segs.append(Segment(fmt.fit(title, w, col.align), style))
            used += w
        if used < width:
            segs.append(Segment(" " * (width - used), base))
        return Strip(segs, width)

    def _row_strip(self, row: JobRow, index: int, width: int) -> Strip:
        base = self.rich_style
        if row.id in self.marked:
            base += self.get_component_rich_style("job-table--marked")
        status_style = self.get_component_rich_style(table_class(row.status), partial=True) \
            if row.status in STATUSES else Style()
        overlay = self.get_component_rich_style("job-table--cursor", partial=True) \
            if index == self.cursor else Style()
        segs: list[Segment] = []
        used = 0
        for n, (col, w) in enumerate(self._columns()):
            if n:
                segs.append(Segment(" " * GAP, base + overlay))
                used += GAP
            text = cell_text(row, col.key, w, self.window.label(row) if col.key == "label" else None)
            if col.key == "id":
                text = ("●" if row.id in self.marked else " ") + text
            style = base
            if col.key == "status":
                style = base + status_style
            if col.key == "progress" and row.total_steps and not row.phase:
                steps = text.split(" ", 1)[0]
                rest = text[len(steps):]
                bar_style = base + (status_style if row.status != JobStatus.RUNNING else
                                    self.get_component_rich_style("job-table--bar", partial=True))
                segs.append(Segment(fmt.fit(steps, len(steps)), style + overlay))
                segs.append(Segment(fmt.fit(rest, w - len(steps)), bar_style + overlay))
                used += w
                continue
            segs.append(Segment(fmt.fit(text, w, col.align), style + overlay))
            used += w
        if used < width:
            segs.append(Segment(" " * (width - used), base + overlay))
        return Strip(segs, width)

    def on_focus(self) -> None:
        self.refresh_line_at(self.cursor)

    def on_blur(self) -> None:
        self.refresh_line_at(self.cursor)
