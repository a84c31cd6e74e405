"""Keys where people look for them, at 80 columns: `?` and `q` always in the footer, the
help overlay scrolls with j/k, and `o` sorts by a column chosen from a menu."""

from __future__ import annotations

from textual.containers import VerticalScroll

from aetui.tui.screens.help import HelpScreen
from aetui.tui.screens.main import MainScreen
from aetui.tui.screens.run import RunScreen

from .helpers import drive, make_app, screen_text, select_job, until


def _footer(app) -> str:
    return screen_text(app).splitlines()[-1]


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
