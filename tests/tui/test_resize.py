"""After a resize the selected row stays in view: Enter opens the row one can see
(issue 14, defect 8)."""

from __future__ import annotations

import pytest

from aetui.tui.screens.run import RunScreen

from .helpers import drive, make_app, screen_text, select_job, settle, table_ids, until


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_cursor_row_stays_visible_after_the_terminal_shrinks(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        table = pilot.app.screen.table
        oldest = table_ids(pilot)[-1]
        await select_job(pilot, oldest)  # the last row, in view at 200x50
        for size in ((80, 10), (100, 9), (200, 50), (80, 10)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            await pilot.pause()
            top = round(table.scroll_y)
            assert table.body_height < len(table_ids(pilot)) or size == (200, 50)
            assert top <= table.cursor < top + table.body_height, (size, top, table.cursor, table.body_height)
            row_lines = screen_text(pilot.app).splitlines()[1:]
            assert any(line.lstrip(" ●").startswith(f"{oldest} ") for line in row_lines), screen_text(pilot.app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen), what="run screen")
        assert pilot.app.screen.row.id == oldest

    drive(app, scenario, size=(200, 50))
