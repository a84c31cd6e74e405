"""Compare marked runs: the same picture at the same step side by side, the settings
that differ among them with their final and held-out losses in one table, and their
loss curves overlaid in one plot (one colour a run, the same colour as its caption).

Sweeps have no loss curve: they are compared by their level curves instead, a measure
(the ratio, the output MSE...; `m` picks it) against the noise level, their triplets
level by level."""

from __future__ import annotations

from dataclasses import dataclass, field

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Static

from aetui.tui.data.results import Picture, Results
from aetui.tui.screens.graphics_screen import GraphicsScreen
from aetui.tui.widgets.image_view import ImageView
from aetui.tui.widgets.keys_footer import KeysFooter
from aetui.tui.widgets.loss_plot import PALETTE, LossPlot, series

MAX_SIDE_BY_SIDE = 4
# a sweep's measures that `m` cycles through, with the y axis's name
LEVEL_MEASURES = (("ratio", "output/input MSE ratio"), ("output_mse", "output MSE"), ("input_mse", "input MSE"),
                  ("psnr_out", "output PSNR"))


# the numbers compared side by side under the settings, when a run has them
LOSSES = (("final_loss", "final loss"), ("heldout_mse", "held-out MSE"))


@dataclass(frozen=True)
class Compared:
    job_id: int
    title: str
    results: Results
    curve: list[tuple[int, float]]
    spec: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def diff_rows(runs: list[Compared]) -> list[tuple[str, list[str]]]:
    """(name, one cell a run) for the settings that differ among the runs
    (`aetui.settings_diff.differing`), then their final and held-out losses."""
    from aetui.settings_diff import MISSING, differing, flat, show

    from aetui.tui.format import num

    settings = [flat(r.spec) for r in runs]
    rows = [(key, [show(f[key]) if key in f else MISSING for f in settings]) for key in differing(r.spec for r in runs)]
    for key, name in LOSSES:
        values = [r.metrics.get(key) for r in runs]
        if any(isinstance(v, (int, float)) for v in values):
            rows.append((name, [num(v) if isinstance(v, (int, float)) else MISSING for v in values]))
    return rows


def diff_table(runs: list[Compared]):
    """The Compare screen's table: a column a run (in its plot colour), a row a setting
    that differs, then the losses; says so when every setting is the same."""
    from rich.table import Table
    from rich.text import Text

    rows = diff_rows(runs)
    if not runs:
        return Text("")
    table = Table(box=None, pad_edge=False, header_style="bold", expand=False)
    table.add_column("", style="dim", no_wrap=True)
    for n, r in enumerate(runs):
        table.add_column(f"#{r.job_id}", style=PALETTE[n % len(PALETTE)], no_wrap=True, overflow="ellipsis")
    if not any(name not in dict(LOSSES).values() for name, _ in rows):
        table.add_row("settings", *["all the same" if n == 0 else "" for n in range(len(runs))])
    for name, cells in rows:
        table.add_row(name, *cells)
    return table


def level_curve(results: Results, key: str) -> list[tuple[float, float]]:
    """(level, measure) points of a sweep, in level order."""
    return sorted((float(p["level"]), float(p[key])) for p in results.points
                  if isinstance(p.get("level"), (int, float)) and isinstance(p.get(key), (int, float)))


class CompareLoaded(Message):
    def __init__(self, runs: list[Compared], missing: list[int]) -> None:
        super().__init__()
        self.runs, self.missing = runs, missing


def pick(results: Results, album_name: str, step: int | None, index: int) -> Picture | None:
    """The run's picture for a step (the newest at or before it) or, without steps, an index."""
    album = results.album(album_name)
    if album is None or not album.pictures:
        return None
    if step is not None and album.steps():
        before = [p for p in album.pictures if p.step is not None and p.step <= step]
        return before[-1] if before else album.pictures[0]
    return album.pictures[min(index, len(album.pictures) - 1)]


class CompareScreen(GraphicsScreen):
    BINDINGS = [
        Binding("escape,q,backspace", "back", "Back"),
        Binding("left,h", "step(-1)", "Prev step"),
        Binding("right,l", "step(1)", "Next step"),
        Binding("tab", "album(1)", "Next album"),
        Binding("L", "log_scale", "Log scale", show=False),
        Binding("m", "measure", "Measure", show=False, tooltip="sweeps: the measure plotted against the level"),
    ]

    def __init__(self, job_ids: list[int]) -> None:
        super().__init__()
        self.job_ids = job_ids
        self.runs: list[Compared] = []
        self.albums: list[str] = []
        self.album_index = 0
        self.position = 0  # index into the step list (or picture index)
        self.measure = 0  # index into LEVEL_MEASURES, when comparing sweeps

    def compose(self) -> ComposeResult:
        yield Static(f"Compare {' '.join(f'#{i}' for i in self.job_ids)}", id="compare-title", markup=False)
        with Horizontal(id="compare-images"):
            for n, job_id in enumerate(self.job_ids[:MAX_SIDE_BY_SIDE]):
                with Vertical(classes="compare-run"):
                    yield Static(f"#{job_id}", id=f"compare-caption-{n}", classes="compare-caption", markup=False)
                    yield ImageView(id=f"compare-image-{n}")
        yield Static("", id="compare-step", markup=False)
        yield Static("", id="compare-diff")
        yield LossPlot(id="compare-plot")
        yield KeysFooter()

    def on_mount(self) -> None:
        for n in range(min(len(self.job_ids), MAX_SIDE_BY_SIDE)):
            self.query_one(f"#compare-caption-{n}", Static).styles.color = PALETTE[n % len(PALETTE)]
        self._load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _load(self) -> None:
        from aetui.errors import UserError
        from aetui.jobs import job_detail
        from aetui.tui.data.curves import read_scalars
        from aetui.tui.data.results import load_results

        runs, missing = [], []
        for job_id in self.job_ids:
            try:
                d = job_detail(self.app.home, job_id)
            except UserError:
                missing.append(job_id)
                continue
            res = load_results(d["kind"], d.get("run_dir"), d.get("artifacts"), d.get("results"))
            try:
                curve = read_scalars(d["run_dir"]) if d.get("run_dir") else []
            except Exception:
                curve = []
            runs.append(Compared(job_id, d["label"], res, curve, dict(d.get("spec") or {}),
                                 dict(d.get("metrics") or {})))
        self.post_message(CompareLoaded(runs, missing))

    def on_compare_loaded(self, message: CompareLoaded) -> None:
        self.runs = message.runs
        if message.missing:
            self.notify(f"gone: {', '.join(f'#{i}' for i in message.missing)}", severity="warning")
        names: list[str] = []
        for r in self.runs:
            for a in r.results.albums:
                if a.name not in names:
                    names.append(a.name)
        self.albums = names
        self.album_index = 0
        self.position = len(self._positions()) - 1
        self.query_one("#compare-diff", Static).update(diff_table(self.runs))
        self._plot()
        self._show()

    @property
    def sweeps(self) -> bool:
        """Whether every run compared is a sweep with results (then levels, not steps)."""
        return bool(self.runs) and all(r.results.kind == "sweep" and r.results.points for r in self.runs)

    def _plot(self) -> None:
        plot = self.query_one(LossPlot)
        if not self.sweeps:
            plot.set_axes("step", "loss")
            plot.set_series([series(f"#{r.job_id}", r.curve, n) for n, r in enumerate(self.runs)])
            return
        key, name = LEVEL_MEASURES[self.measure]
        plot.empty_text = f"no {name} in these sweeps' results"
        plot.set_axes("noise level", name)
        plot.set_series([series(f"#{r.job_id}", level_curve(r.results, key), n) for n, r in enumerate(self.runs)])

    def _positions(self) -> list[int]:
        """Steps every run has a picture at or before (the common steps), else indices."""
        if not self.albums:
            return []
        name = self.albums[self.album_index]
        step_sets = [set(r.results.album(name).steps()) for r in self.runs if r.results.album(name)]
        if step_sets and all(step_sets):
            common = set.intersection(*step_sets)
            return sorted(common or set.union(*step_sets))
        lengths = [len(r.results.album(name).pictures) for r in self.runs if r.results.album(name)]
        return list(range(max(lengths, default=0)))

    def _show(self) -> None:
        positions = self._positions()
        label = self.query_one("#compare-step", Static)
        if not positions:
            label.update("no pictures to compare yet")
            for n in range(min(len(self.runs), MAX_SIDE_BY_SIDE)):
                self.query_one(f"#compare-image-{n}", ImageView).placeholder = "no pictures"
            return
        self.position = max(0, min(self.position, len(positions) - 1))
        name = self.albums[self.album_index]
        stepped = any(r.results.album(name) and r.results.album(name).steps() for r in self.runs)
        at = positions[self.position]
        if stepped:
            where = f"step {at}"
        else:  # a sweep's triplets are by level, a walk's frames by frame...: their own titles
            first = next((p for r in self.runs if (p := pick(r.results, name, None, at))), None)
            where = first.title if first is not None else f"picture {at + 1}"
        keys = "←/→ level" if self.sweeps else "←/→ step"
        label.update(f"{name} · {where}  ({self.position + 1}/{len(positions)}; {keys}, tab album"
                     f"{', m measure' if self.sweeps else ''})")
        for n, run in enumerate(self.runs[:MAX_SIDE_BY_SIDE]):
            pic = pick(run.results, name, at if stepped else None, at)
            view = self.query_one(f"#compare-image-{n}", ImageView)
            caption = self.query_one(f"#compare-caption-{n}", Static)
            caption.update(f"#{run.job_id} · {pic.title if pic else '—'} · {run.title}")
            view.placeholder = "no picture"
            view.path = pic.source if pic else None

    def action_step(self, delta: int) -> None:
        positions = self._positions()
        if positions:
            self.position = (self.position + delta) % len(positions)
            self._show()

    def action_album(self, delta: int) -> None:
        if self.albums:
            self.album_index = (self.album_index + delta) % len(self.albums)
            self.position = len(self._positions()) - 1
            self._show()

    def action_measure(self) -> None:
        if self.sweeps:
            self.measure = (self.measure + 1) % len(LEVEL_MEASURES)
            self._plot()

    def action_log_scale(self) -> None:
        plot = self.query_one(LossPlot)
        plot.log_y = not plot.log_y
