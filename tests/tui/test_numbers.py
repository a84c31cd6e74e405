"""Numbers on screen are whole: the runs table and the plot axes fit the numbers they show,
and the plot names its axes right (issue 14, defect 3)."""

from __future__ import annotations

import asyncio

import pytest
from textual.app import App, ComposeResult

from aetui.tui import format as fmt
from aetui.tui.widgets.loss_plot import LossPlot, series

from .helpers import drive, make_app, screen_text, until


def test_compact_numbers_keep_three_digits_and_short_exponents():
    assert fmt.num(125_800.0, 3) == "1.26e5"
    assert fmt.num(0.0000123, 3) == "1.23e-5"
    assert fmt.num(0.0061, 3) == "0.0061"
    assert fmt.num(-0.0000123, 3, width=7) == "-1.2e-5"  # fewer digits rather than a cut
    assert fmt.num(812.0, 3) == "812"


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_a_large_loss_is_whole_in_the_runs_table(seeded):
    from store import queue

    home, ids = seeded
    queue.progress(home.db, job_id=ids["running"], step=130, total_steps=400, loss=125_800.0, images_per_s=640.0,
                   eta_s=175.0)
    for size in ((80, 24), (200, 50)):
        app = make_app(home)

        async def scenario(pilot):
            await until(pilot, lambda: "1.26e5" in screen_text(pilot.app), what="the loss in full")
            assert "…" not in "".join(line for line in screen_text(pilot.app).splitlines() if "1.26e" in line)

        drive(app, scenario, size=size)


class PlotApp(App):
    def __init__(self, points, **axes) -> None:
        super().__init__()
        self.points, self.axes = points, axes

    def compose(self) -> ComposeResult:
        plot = LossPlot()
        if self.axes:
            plot.set_axes(**self.axes)
        plot.set_series([series("#1", self.points, 0)])
        yield plot


def _plot_text(points, size=(200, 20), **axes) -> list[str]:
    out: list[str] = []

    async def main():
        app = PlotApp(points, **axes)
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            out.extend(screen_text(app).splitlines())

    asyncio.run(main())
    return out


def test_plot_axis_is_as_wide_as_its_labels_and_names_the_log_axis():
    lines = _plot_text([(0, 114_000.0), (50, 1.2), (100, 0.000123)])
    text = "\n".join(lines)
    assert "1.14e5 ┤" in text and "0.000123 ┤" in text, text
    assert "…" not in text, text
    assert lines[0].strip() == "loss (log)", lines[0]  # the y axis is the log one
    x_axis = next(line for line in lines if "└" in line)
    assert "step" in x_axis and "log" not in x_axis, x_axis


def test_plot_names_the_axes_it_is_given():
    lines = _plot_text([(0.1, 0.4), (0.3, 0.2), (0.5, 0.13)], x_label="noise level", y_label="ratio")
    assert lines[0].strip() == "ratio (log)"
    assert "noise level" in next(line for line in lines if "└" in line)


def _sweep_columns(home, sweep_id: int, sizes) -> list[list[str]]:
    """The sweep table's column titles at each terminal size, resized in turn."""
    from textual.widgets import DataTable

    from aetui.tui.screens.results import ResultsScreen

    from .helpers import select_job, settle

    seen: list[list[str]] = []

    async def scenario(pilot):
        await pilot.resize_terminal(*sizes[0])
        await settle(pilot)
        await select_job(pilot, sweep_id)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen) and pilot.app.screen.results,
                    what="sweep results")
        for size in sizes:
            await pilot.resize_terminal(*size)
            await settle(pilot)
            await pilot.pause(0.1)
            table = pilot.app.screen.query_one("#results-points", DataTable)
            seen.append([str(c.label) for c in table.columns.values()])
            lines = screen_text(pilot.app).splitlines()
            assert all(len(line) <= size[0] for line in lines)

    drive(make_app(home), scenario, size=sizes[0])
    return seen


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_sweep_table_shows_the_columns_that_fit(seeded):
    """At 200 columns the sweep's table shows every measure docs/dashboard.md promises
    (MSEs, ratio, PSNR, the control's ratio), also after a resize from 80 columns; at 80
    it keeps the level, the ratio and the control's ratio."""
    home, ids = seeded
    promised = {"level", "in MSE", "out MSE", "ratio", "PSNR in", "PSNR out", "ctrl ratio"}
    narrow, wide, back = _sweep_columns(home, ids["sweep"], [(80, 24), (200, 50), (80, 24)])
    assert {"level", "ratio", "ctrl ratio"} <= set(narrow)
    assert promised <= set(wide), wide
    assert set(back) == set(narrow)
    (direct,) = _sweep_columns(home, ids["sweep"], [(200, 50)])
    assert promised <= set(direct), direct
