"""The runs table in the real app: filter, sort, live refresh from the store, the
10,000-row window, marking and compare, help and the command palette, resizing."""

from __future__ import annotations

import asyncio

import pytest

from aetui.tui.screens.compare import CompareScreen
from aetui.tui.screens.help import HelpScreen
from aetui.tui.screens.main import MainScreen
from aetui.tui.screens.results import ResultsScreen
from aetui.tui.screens.run import RunScreen

from .helpers import drive, make_app, open_run, ready, screen_text, select_job, settle, table_ids, until


def test_text_filter_and_status_filter_change_the_rows(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        screen = pilot.app.screen
        assert len(table_ids(pilot)) == 8
        await pilot.press("slash")
        await pilot.press(*"lr=")
        await pilot.press("enter")
        await until(pilot, lambda: screen.table.total == 2, what="text filter")
        await settle(pilot)
        assert set(table_ids(pilot)) == {ids["running"], ids["failed"]}
        assert screen.table.has_focus  # enter gives the keys back to the table
        await pilot.press("s")  # status: queued
        await until(pilot, lambda: screen.query_state.status == "queued", what="status filter")
        await settle(pilot)
        assert table_ids(pilot) == [] and "no jobs match" in screen_text(pilot.app)
        await pilot.press("escape")  # clears text and status
        await until(pilot, lambda: screen.table.total == 8, what="filters cleared")
        for _ in range(3):
            await pilot.press("s")  # all -> queued -> running -> done
        await until(pilot, lambda: screen.query_state.status == "done" and screen.table.total == 4, what="done")
        await settle(pilot)
        assert set(table_ids(pilot)) == {ids[k] for k in ("done", "sweep", "walk", "probe")}

    drive(app, scenario)


def test_filter_keys_arriving_in_one_burst_are_not_lost(seeded):
    """Over a slow SSH link '/unet⏎' can arrive in one read: every key must still land
    in the filter (none may run as a shortcut, 'n' opens a form, enter opens a run)."""
    from textual import events

    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        for ch in "/res64":
            pilot.app.post_message(events.Key("slash" if ch == "/" else ch, ch))
        pilot.app.post_message(events.Key("enter", "\r"))
        screen = pilot.app.screen
        await until(pilot, lambda: screen.query_state.text == "res64" and screen.table.total == 1, what="filter")
        assert isinstance(pilot.app.screen, MainScreen) and not screen.table.filtering
        await settle(pilot)
        assert table_ids(pilot) == [ids["cancelled"]]

    drive(app, scenario)


def test_sort_by_column_changes_the_order(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        screen = pilot.app.screen
        assert table_ids(pilot) == sorted(ids.values(), reverse=True)  # newest first
        await pilot.press("O")  # oldest first
        await until(pilot, lambda: not screen.query_state.descending, what="reversed")
        await settle(pilot)
        assert table_ids(pilot) == sorted(ids.values())
        await pilot.press("o", "l")  # the sort menu, then the loss column's letter (the direction stays)
        await until(pilot, lambda: screen.table.job_query.sort == "loss", what="sorted by loss")
        await settle(pilot)
        rows = [screen.table.row_at(i) for i in range(screen.table.total)]
        losses = [r.loss for r in rows if r.loss is not None]
        assert losses == sorted(losses) and rows[-1].loss is None
        assert "loss▲" in screen_text(pilot.app)

    drive(app, scenario)


def test_live_refresh_patches_changed_rows_in_place(seeded):
    from store import queue

    home, ids = seeded
    app = make_app(home, poll_s=0.1)

    async def scenario(pilot):
        screen = pilot.app.screen
        table = screen.table
        fetches = []
        original = screen._fetch
        screen._fetch = lambda *a: (fetches.append(a), original(*a))  # count window reloads
        queue.progress(home.db, job_id=ids["running"], step=222, total_steps=400, loss=0.0123, images_per_s=700.0,
                       eta_s=60.0)

        def row():
            return table.row_at(table_ids(pilot).index(ids["running"]))

        await until(pilot, lambda: row().step == 222, what="progress reaches the table")
        assert row().loss == 0.0123 and fetches == []  # patched in place, no window reload
        await settle(pilot)
        assert "222/400" in screen_text(pilot.app)
        # a job queued elsewhere (the CLI) appears at the top
        new = queue.enqueue_many(home.db, [dict(kind="train", spec={"model": "mlp", "res": 32},
                                               label="mlp res32 from-cli")], run_root=str(home.runs))[0]
        await until(pilot, lambda: table_ids(pilot)[:1] == [new.id], what="new job shown")
        assert fetches  # that one needed a window reload
        # the status counts follow too
        await until(pilot, lambda: screen.query_one("StatusTabs").counts.get("queued") == 2, what="counts")

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_ten_thousand_rows_stay_a_window(big_home):
    app = make_app(big_home)

    async def scenario(pilot):
        screen = pilot.app.screen
        table = screen.table
        assert table.total == 10_008
        assert len(table.window_ids()) <= 200  # a window, not ten thousand rows
        await pilot.press("G")
        await until(pilot, lambda: table.current is not None and table.current.id == 1, what="last row")
        assert table.cursor == 10_007 and len(table.window_ids()) <= 200
        await pilot.press("g", "pagedown", "pagedown")
        await until(pilot, lambda: table.current is not None, what="page loaded")
        assert table.cursor == 2 * table.body_height
        await pilot.press("slash", *"mlp", "enter")
        await until(pilot, lambda: table.total == 3_333, what="filtered count")

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_marking_two_runs_opens_compare(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await pilot.press("c")  # nothing marked: a hint, no screen
        await settle(pilot)
        assert isinstance(pilot.app.screen, MainScreen)
        await select_job(pilot, ids["running"])
        await pilot.press("space")  # marks and moves down to the next (older) job, #1
        await pilot.press("space")
        assert pilot.app.screen.table.marked == {ids["running"], ids["done"]}
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.runs,
                    what="compare loaded")
        await settle(pilot)
        screen = pilot.app.screen
        views = [screen.query_one(f"#compare-image-{n}") for n in range(2)]
        assert [v.path.name for v in views] == ["recon_00000060.png"] * 2  # same step side by side
        assert all(v.image is not None for v in views)
        plot = screen.query_one("#compare-plot")
        assert [s.name for s in plot.series] == [f"#{ids['done']}", f"#{ids['running']}"]
        assert all(len(s.points) > 5 for s in plot.series)
        await pilot.press("left")
        await settle(pilot)
        assert [v.path.name for v in views] == ["recon_00000040.png"] * 2
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, MainScreen)

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_help_lists_keys_and_palette_finds_actions(seeded):
    from aetui.tui.commands import ActionsProvider

    home, _ = seeded
    app = make_app(home)

    async def scenario(pilot):
        from aetui.tui.screens.help import key_rows

        await pilot.press("question_mark")
        assert isinstance(pilot.app.screen, HelpScreen)
        await settle(pilot)
        assert "Keys" in screen_text(pilot.app)
        described = {desc.split(" — ")[0]: keys for _, keys, desc in key_rows(pilot.app.screen.below)}
        assert described["Delete job"] == "D del" and described["Retry job"] == "R"
        for words in ("Set priority", "Compare", "Filter", "Start worker", "Quit", "Open", "Mark"):
            assert words in described, words
        await pilot.press("escape")
        provider = ActionsProvider(pilot.app.screen)
        found = [hit.text async for hit in provider.search("delete")]
        assert "Delete job" in found
        found = [hit.text async for hit in provider.discover()]
        for words in ("Cancel job", "Launch", "New job", "Results", "Sort", "Mark", "Open"):
            assert words in found, words
        hit = [h async for h in provider.search("retry job")][0]  # choosing a hit runs the action
        await pilot.press("G")
        await pilot.pause()
        await hit.command()
        await settle(pilot)

    drive(app, scenario)


LONG_LINE = "model: unet " + " ".join(f"block{i}=64x64" for i in range(30)) + " params=1234567 END"


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_open_run_shows_image_curve_and_log(seeded):
    home, ids = seeded
    from aetui.run_layout import RunLayout
    from aetui.run_owner import resolve
    from store.queries import get_run

    with RunLayout.at(resolve(home.path, get_run(home.db, ids["done"]).run_dir)).stdout.open("a") as f:
        f.write(LONG_LINE + "\n")
    app = make_app(home)

    async def scenario(pilot):
        await open_run(pilot, ids["done"])
        screen = pilot.app.screen
        view = screen.query_one("#run-image")
        assert view.path.name == "recon_00000060.png" and view.image is not None  # in view at once
        assert len(screen.query_one("#run-loss").series[0].points) == 12
        await pilot.press("3")
        await settle(pilot)
        assert "aetui queue unet --res 32" in screen_text(pilot.app)  # the requeue command
        await pilot.press("2")
        await settle(pilot)
        log = screen.query_one("#run-log")
        assert any("step 60/60" in strip.text for strip in log.lines)
        # a line wider than the terminal wraps: no sideways scrolling to read it
        assert log.max_scroll_x == 0 and LONG_LINE.split()[-1] in "".join(strip.text for strip in log.lines)
        await pilot.press("5")
        await settle(pilot)
        assert "final.pt" in screen_text(pilot.app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen), what="results")
        await pilot.press("escape", "escape")
        assert isinstance(pilot.app.screen, MainScreen)

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_results_browser_steps_plays_and_shows_sweep_table(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["walk"])
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen) and pilot.app.screen.results,
                    what="walk results")
        screen = pilot.app.screen
        assert screen.album.name == "frames" and screen.playing  # a walk plays at once
        await until(pilot, lambda: screen.index >= 2, what="animation advances")
        await pilot.press("space")
        assert not screen.playing
        at = screen.index
        await pilot.press("right")
        assert screen.index == (at + 1) % 4
        await pilot.press("tab")
        assert screen.album.name == "filmstrip"
        await pilot.press("escape")
        await select_job(pilot, ids["sweep"])
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen) and pilot.app.screen.results,
                    what="sweep results")
        await settle(pilot)
        screen = pilot.app.screen
        table = screen.query_one("#results-points")
        assert table.row_count == 3 and screen.query_one("#results-plot").path.name == "plot.png"
        await pilot.press("right")
        assert screen.query_one("#results-image").path.name == "level_1.png" and table.cursor_row == 1
        await pilot.press("escape")
        await select_job(pilot, ids["done"])
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen) and pilot.app.screen.results,
                    what="grids")
        screen = pilot.app.screen
        assert screen.query_one("#results-image").path.name == "recon_00000060.png"  # newest grid first
        await pilot.press("left")
        assert screen.query_one("#results-image").path.name == "recon_00000040.png"

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_a_command_job_s_tensorboard_pictures_on_its_run_screen_and_in_the_results_browser(seeded):
    """The pictures a command wrote under $AETUI_TB_DIR: the newest on its run screen, all of
    them, by step, in the results browser, drawn from the bytes in its event files."""
    from PIL import Image

    from store import queue

    from .seed import write_images

    home, ids = seeded
    (cmd,) = queue.enqueue_many(home.db, [dict(kind="command", label="python train.py", total_steps=0, spec={
        "kind": "command", "argv": ["python", "train.py"], "cwd": "/src", "env": {}})], run_root="runs")
    red, green = (220, 20, 30), (20, 200, 40)
    write_images(home.run_dir(cmd.id), "toy/picture", {5: [Image.new("RGB", (8, 8), red)],
                                                       10: [Image.new("RGB", (8, 8), green)]})
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, cmd.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen)
                    and pilot.app.screen.query_one("#run-image").image is not None, what="the run's picture")
        screen = pilot.app.screen
        assert screen.query_one("#run-image").image.getpixel((4, 4)) == green  # the newest
        assert "toy/picture · step 10" in screen_text(pilot.app)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen)
                    and pilot.app.screen.query_one("#results-image").image is not None, what="the results")
        screen = pilot.app.screen
        assert screen.album.name == "toy/picture" and "toy/picture · step 10 · 2/2" in screen_text(pilot.app)
        await pilot.press("left")
        view = screen.query_one("#results-image")
        await until(pilot, lambda: view.image is not None and view.image.getpixel((4, 4)) == red, what="step 5")

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_resizing_between_80x24_and_200x50_keeps_a_sane_layout(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        for size in ((200, 50), (60, 16), (80, 24), (200, 50)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            lines = screen_text(pilot.app).splitlines()
            assert len(lines) == size[1] and all(len(line) <= size[0] for line in lines)
            assert "status" in lines[1]  # the header row of the table stays on top
        text = screen_text(pilot.app)
        assert "created" in text and "label" in text  # wide: the extra columns appear
        await select_job(pilot, ids["done"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.data, what="run")
        for size in ((80, 24), (200, 50)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            assert pilot.app.screen.query_one("#run-image").size.height >= 5

    drive(app, scenario)


def test_first_paint_with_ten_thousand_runs_holds_a_window(big_home):
    """With 10,000 runs the table loads a window of rows, not all of them (the time it
    takes is measured in benchmarks/dashboard.py, not asserted here)."""
    app = make_app(big_home)

    async def main():
        async with app.run_test(size=(80, 24)) as pilot:
            table = pilot.app.screen.table
            while not table.loaded:
                await asyncio.sleep(0.01)
            await ready(pilot)
            assert table.total == 10_008
            return len(table.window)

    held = asyncio.run(main())
    assert 0 < held < 1_000
