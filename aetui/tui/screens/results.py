"""The results browser: a run's pictures, album by album.

A training run: its reconstruction (and denoising) grids by step. A sweep: the
triplets level by level, with the table of levels and the plot beside them. A walk:
its frames, played as an animation (space) and stepped by key. A probe: its images.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from aetui.tui import format as fmt
from aetui.tui.data.results import Album, Results
from aetui.tui.data.rows import JobRow
from aetui.tui.screens.graphics_screen import GraphicsScreen
from aetui.tui.widgets.image_view import ImageView
from aetui.tui.widgets.keys_footer import KeysFooter
from store.states import JobStatus

POINT_COLUMNS = (("level", "level"), ("input_mse", "in MSE"), ("output_mse", "out MSE"), ("ratio", "ratio"),
                 ("psnr_in", "PSNR in"), ("psnr_out", "PSNR out"), ("control_ratio", "ctrl ratio"),
                 ("control_output_mse", "ctrl MSE"))
# which of a sweep's columns stay when the width runs out, first to last
POINT_PRIORITY = ("level", "ratio", "control_ratio", "input_mse", "output_mse", "psnr_out", "psnr_in",
                  "control_output_mse")
CELL_PADDING = 1  # the table's, each side of a cell


def point_text(value) -> str:
    return fmt.num(value, 4) if isinstance(value, float) else "" if value is None else str(value)


def point_columns(points, width: int) -> list[tuple[str, str]]:
    """The (key, title) columns of a sweep's table that fit `width` cells, taken by
    priority and shown in their usual order; only columns that some point has."""
    need = {}
    for key, title in POINT_COLUMNS:
        if any(key in p for p in points):
            need[key] = max(len(title), *(len(point_text(p.get(key))) for p in points)) + 2 * CELL_PADDING
    chosen, used = set(), 0
    for key in POINT_PRIORITY:
        if key in need and (used + need[key] <= width or not chosen):
            chosen.add(key)
            used += need[key]
    return [(k, t) for k, t in POINT_COLUMNS if k in chosen]
SPEEDS = (2, 5, 10, 20)


class ResultsLoaded(Message):
    def __init__(self, results: Results | None, error: str | None = None) -> None:
        super().__init__()
        self.results, self.error = results, error


class ResultsScreen(GraphicsScreen):
    AUTO_FOCUS = None
    BINDINGS = [
        Binding("escape,q,backspace", "back", "Back"),
        Binding("left,h", "step(-1)", "Prev"),
        Binding("right,l", "step(1)", "Next"),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("tab,right_square_bracket", "album(1)", "Next album"),
        Binding("shift+tab,left_square_bracket", "album(-1)", "Prev album", show=False),
        Binding("space", "play", "Play/pause"),
        Binding("plus", "speed(1)", "Faster", show=False),
        Binding("minus", "speed(-1)", "Slower", show=False),
    ]

    def __init__(self, row: JobRow) -> None:
        super().__init__()
        self.row = row
        self.results: Results | None = None
        self.album_index = 0
        self.index = 0
        self.playing = False
        self.speed = 1
        self._timer: Timer | None = None
        self._point_columns: list[tuple[str, str]] = []
        self._plays = False  # whether the album shown plays (its footer offers space)

    def compose(self) -> ComposeResult:
        yield Static(f"#{self.row.id} {self.row.kind} · {self.row.label}", id="results-title", markup=False)
        yield Static("", id="results-albums")
        with Horizontal(id="results-body"):
            with Vertical(id="results-main"):
                yield ImageView(id="results-image")
                yield Static("", id="results-caption", markup=False)
            with Vertical(id="results-side"):
                points = DataTable(id="results-points", cursor_type="row", zebra_stripes=True)
                points.can_focus = False  # the screen's keys step through the levels
                yield points
                yield ImageView(id="results-plot")
                yield Static("", id="results-info")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.query_one("#results-image", ImageView).placeholder = "loading…"
        self.query_one("#results-side").display = False
        self._load()
        if self.row.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            self.set_interval(max(2.0, getattr(self.app, "poll_s", 1.0) * 2), self._load)

    @work(thread=True, exclusive=True, group="results", exit_on_error=False)
    def _load(self) -> None:
        from aetui.jobs import job_detail
        from aetui.tui.data.results import load_results

        try:
            d = job_detail(self.app.home, self.row.id)
            res = load_results(d["kind"], d.get("run_dir"), d.get("artifacts"), d.get("results"))
        except Exception as e:
            self.post_message(ResultsLoaded(None, str(e)))
            return
        self.post_message(ResultsLoaded(res))
        for album in res.albums:  # warm the decode cache so stepping and playing are smooth
            if album.animated:
                from aetui.tui.data.images import load

                for pic in album.pictures[:300]:
                    load(pic.source)

    def on_results_loaded(self, message: ResultsLoaded) -> None:
        if message.results is None:
            self.notify(message.error or "cannot read the results", severity="error")
            return
        first = self.results is None
        old = self.album
        at_end = old is not None and self.index == len(old.pictures) - 1
        self.results = res = message.results
        if first:
            self.album_index = 0  # albums come ranked: grids, triplets, frames, images first
            album = self.album
            self.index = 0 if album is None or album.animated or res.kind in ("sweep", "probe") \
                else len(album.pictures) - 1
        elif at_end and self.album is not None:
            self.index = len(self.album.pictures) - 1  # keep following the newest grid
        self._setup_side()
        self._show()
        if first and self.album is not None and self.album.plays:
            self.action_play()

    @property
    def album(self) -> Album | None:
        if self.results is None or not self.results.albums:
            return None
        return self.results.albums[self.album_index % len(self.results.albums)]

    def _setup_side(self) -> None:
        res = self.results
        side = self.query_one("#results-side")
        table = self.query_one("#results-points", DataTable)
        plot = self.query_one("#results-plot", ImageView)
        info = self.query_one("#results-info", Static)
        if res is None:
            return
        if res.kind == "sweep":
            side.display = True
            table.display = bool(res.points)
            self._fill_points()
            self.call_after_refresh(self._fill_points)  # again, at the side's laid-out width
            plot_album = res.album("plot")
            plot.display = plot_album is not None
            if plot_album is not None and plot.path != plot_album.pictures[-1].source:
                plot.path = plot_album.pictures[-1].source
            info.display = False
        else:
            side.display = False

    def _fill_points(self) -> None:
        """The sweep's table with the columns that fit its width now (again after a resize:
        a table built at 80 columns keeps showing 3 columns at 200 otherwise)."""
        res = self.results
        if res is None or res.kind != "sweep" or not res.points:
            return
        table = self.query_one("#results-points", DataTable)
        # the side is 45% of the screen, less its border and the table's scrollbar
        width = (self.query_one("#results-side").size.width or int(self.size.width * 0.45)) - 2
        columns = point_columns(res.points, width)
        if table.row_count == len(res.points) and self._point_columns == columns:
            return
        self._point_columns = columns
        cursor = table.cursor_row
        table.clear(columns=True)
        table.add_columns(*[t for _, t in columns])
        for p in res.points:
            table.add_row(*[point_text(p.get(k)) for k, _ in columns])
        if 0 <= cursor < table.row_count:
            table.move_cursor(row=cursor)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fill_points)

    def _show(self) -> None:
        album = self.album
        plays = album is not None and album.plays
        if plays != self._plays:  # space plays only an album that can: the footer says so
            self._plays = plays
            self.refresh_bindings()
        view = self.query_one("#results-image", ImageView)
        caption = self.query_one("#results-caption", Static)
        self.query_one("#results-albums", Static).update(self._albums_line())
        if album is None or not album.pictures:
            view.placeholder = "no result images yet" if self.results is not None else "loading…"
            view.path = None
            caption.update("")
            return
        self.index = max(0, min(self.index, len(album.pictures) - 1))
        pic = album.pictures[self.index]
        view.path = pic.source
        play = ("▶ playing" if self.playing else "⏸ paused") + f" {SPEEDS[self.speed]} fps" if album.animated else ""
        caption.update(f"{album.caption(pic)} · {self.index + 1}/{len(album.pictures)}  {play}".rstrip())
        if self.results and self.results.kind == "sweep" and album.name == "triplets":
            table = self.query_one("#results-points", DataTable)
            if table.row_count > self.index:
                table.move_cursor(row=self.index)

    def _albums_line(self):
        from rich.text import Text

        out = Text()
        if self.results is None:
            return out
        for n, album in enumerate(self.results.albums):
            style = "reverse bold" if n == self.album_index % len(self.results.albums) else "dim"
            out.append(f" {album.name} ({len(album.pictures)}) ", style=style)
            out.append(" ")
        if not self.results.albums:
            out.append("no albums", style="dim")
        return out

    # ---- keys ----------------------------------------------------------------------------------
    def action_step(self, delta: int) -> None:
        album = self.album
        if album is None or not album.pictures:
            return
        if self.playing:
            self._stop()
        self.index = (self.index + delta) % len(album.pictures)
        self._show()

    def action_first(self) -> None:
        self.index = 0
        self._show()

    def action_last(self) -> None:
        if self.album is not None:
            self.index = len(self.album.pictures) - 1
            self._show()

    def action_album(self, delta: int) -> None:
        if self.results is None or not self.results.albums:
            return
        self._stop()
        self.album_index = (self.album_index + delta) % len(self.results.albums)
        album = self.album
        self.index = len(album.pictures) - 1 if self.results.kind == "train" else 0
        self._show()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Play/pause and the speed keys only for an album that plays (a walk's frames):
        the footer offered space on still grids, a filmstrip, a sweep's triplets."""
        if action in ("play", "speed"):
            return self._plays
        return True

    def action_play(self) -> None:
        album = self.album
        if album is None or not album.plays:
            return
        if self.playing:
            self._stop()
        else:
            self.playing = True
            self._timer = self.set_interval(1 / SPEEDS[self.speed], self._advance)
        self._show()

    def action_speed(self, delta: int) -> None:
        self.speed = max(0, min(len(SPEEDS) - 1, self.speed + delta))
        if self.playing:
            self._stop()
            self.action_play()
        else:
            self._show()

    def _stop(self) -> None:
        self.playing = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _advance(self) -> None:
        album = self.album
        if album is None or not album.pictures:
            return
        self.index = (self.index + 1) % len(album.pictures)
        self._show()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """A click on a level's row shows its triplet (keys move the table, not the reverse)."""
        album = self.album
        if album is not None and album.name == "triplets" and event.cursor_row != self.index:
            self.index = event.cursor_row
            self._show()
