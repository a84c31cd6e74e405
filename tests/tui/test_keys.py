"""Keys where people look for them, at 80 columns: `?` and `q` always in the footer, the
help overlay scrolls with j/k, and `o` sorts by a column chosen from a menu."""

from __future__ import annotations

import pytest
from textual.containers import VerticalScroll

from aetui.tui.screens.help import HelpScreen
from aetui.tui.screens.main import MainScreen
from aetui.tui.screens.run import RunScreen

from .helpers import drive, make_app, screen_text, select_job, until


def _footer(app) -> str:
    return screen_text(app).splitlines()[-1]


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_help_and_quit_stay_in_the_footer_at_80_columns(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        footer = _footer(pilot.app)
        assert "? Keys" in footer and "q Quit" in footer, footer
        assert "⏎ Open" in footer, footer  # the screen's own keys still come first
        await select_job(pilot, ids["done"])
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen), what="run screen")
        await pilot.pause()
        footer = _footer(pilot.app)
        assert "? Keys" in footer and "esc Back" in footer, footer  # q goes back here

    drive(app, scenario, size=(80, 24))


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_the_help_overlay_scrolls_with_j_and_k(seeded):
    home, _ = seeded
    app = make_app(home)

    async def scenario(pilot):
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen), what="help")
        await pilot.pause()
        view = pilot.app.screen.query_one(VerticalScroll)
        assert view.max_scroll_y > 3, "the key list should not fit 24 lines"
        await pilot.press("j", "j", "j")
        assert view.scroll_y == 3
        await pilot.press("k")
        assert view.scroll_y == 2
        await pilot.press("G")
        assert view.scroll_y == view.max_scroll_y
        await pilot.press("g")
        assert view.scroll_y == 0
        await pilot.press("escape")
        assert isinstance(pilot.app.screen, MainScreen)

    drive(app, scenario, size=(80, 24))


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_o_sorts_by_the_column_chosen_in_the_menu_in_one_step(seeded):
    from aetui.tui.screens.launch import LaunchScreen
    from aetui.tui.screens.sort_menu import SortMenu

    from .helpers import burst, settle, table_ids

    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        screen = pilot.app.screen
        await pilot.press("o")
        await until(pilot, lambda: isinstance(pilot.app.screen, SortMenu), what="sort menu")
        text = screen_text(pilot.app)
        assert " l  loss" in text and " P  pri (priority)" in text and "▼ now" in text, text
        await pilot.press("P")  # priority, high first (the direction stays)
        await until(pilot, lambda: screen.table.job_query.sort == "priority", what="sorted by priority")
        assert isinstance(pilot.app.screen, MainScreen) and screen.query_state.descending
        await pilot.press("o", "P")  # the same column again: reversed
        await until(pilot, lambda: not screen.table.job_query.descending, what="reversed")
        await pilot.press("o", "up", "enter")  # or move in the list (it opens on the current column)
        await until(pilot, lambda: screen.table.job_query.sort == "device", what="sorted by device")
        await pilot.press("o", "escape")  # nothing chosen: nothing changes
        assert isinstance(pilot.app.screen, MainScreen) and screen.query_state.sort == "device"
        # typed in one burst, the letter reaches the menu, not the table (`l` would launch)
        burst(pilot, ["o", "s"])
        await until(pilot, lambda: screen.table.job_query.sort == "status", what="sorted by status")
        await settle(pilot)
        assert isinstance(pilot.app.screen, MainScreen) and not pilot.app.screen_stack[1:]
        burst(pilot, ["o", "l"])
        await until(pilot, lambda: screen.table.job_query.sort == "loss", what="sorted by loss")
        await settle(pilot)
        assert not any(isinstance(s, LaunchScreen) for s in pilot.app.screen_stack)
        assert sorted(table_ids(pilot)) == sorted(ids.values())

    drive(app, scenario, size=(80, 24))
