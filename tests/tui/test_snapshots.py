"""SVG snapshots of the main screens at 80x24 on a seeded store with fixed times.

Regenerate after an intended change with
`.venv/bin/python -m pytest tests/tui/test_snapshots.py --snapshot-update` and look at
the SVGs in tests/tui/__snapshots__/ before committing them.
"""

from __future__ import annotations

import pytest

from .helpers import make_app, ready, select_job, settle, until


async def _pictures_drawn(pilot) -> None:
    """Every picture on the screen decoded from the file it now names (each decodes in a
    thread of its own, so the workers being done is not enough: their results still travel
    as messages; after a move to the next picture the previous one stays until then)."""
    from aetui.tui.widgets.image_view import ImageView

    def drawn() -> bool:
        views = [v for v in pilot.app.screen.query(ImageView) if v.path is not None and v.display]
        return all(v.shows_path for v in views)

    await until(pilot, drawn, what="pictures decoded")
    await settle(pilot)


async def _open(pilot, job_id: int, key: str, screen_type) -> None:
    await ready(pilot)
    await select_job(pilot, job_id)
    await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, screen_type), what=screen_type.__name__)
    await until(pilot, lambda: getattr(pilot.app.screen, "data", True) is not None
                and getattr(pilot.app.screen, "results", True) is not None, what="loaded")
    await settle(pilot)
    await _pictures_drawn(pilot)


def test_runs_table(snap_compare, snap_home):
    async def run_before(pilot):
        await ready(pilot)
        await select_job(pilot, 2)

    assert snap_compare(make_app(snap_home), terminal_size=(80, 24), run_before=run_before)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_run_detail(snap_compare, snap_home):
    from aetui.tui.screens.run import RunScreen

    async def run_before(pilot):
        await _open(pilot, 1, "enter", RunScreen)

    assert snap_compare(make_app(snap_home), terminal_size=(80, 24), run_before=run_before)


def test_results_browser_sweep(snap_compare, snap_home):
    from aetui.tui.screens.results import ResultsScreen

    async def run_before(pilot):
        await _open(pilot, 6, "r", ResultsScreen)
        await pilot.press("right")
        await settle(pilot)
        await _pictures_drawn(pilot)

    assert snap_compare(make_app(snap_home), terminal_size=(80, 24), run_before=run_before)


def test_results_browser_training_grids(snap_compare, snap_home):
    from aetui.tui.screens.results import ResultsScreen

    async def run_before(pilot):
        await _open(pilot, 1, "r", ResultsScreen)

    assert snap_compare(make_app(snap_home), terminal_size=(80, 24), run_before=run_before)
