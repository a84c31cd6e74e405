"""Runs that say how they differ, in the dashboard (issue 14): status and kind words
filter their fields only, tags (`t`), notes (`a`) and filters by tag, setting and metric, the run
view's tags, note and usage, and Compare's table of the settings that differ with the
final and held-out losses."""

from __future__ import annotations

import os

import pytest

from aetui.tui.screens.compare import CompareScreen

from .helpers import drive, make_app, open_run, screen_text, select_job, settle, table_ids, until


def plain(static) -> str:
    from rich.console import Console

    console = Console(width=200, record=True, file=open(os.devnull, "w"))
    console.print(getattr(static, "renderable", None) or static.content)
    return console.export_text()


async def filter_by(pilot, text: str) -> None:
    screen = pilot.app.screen
    await pilot.press("escape")  # the filter before this one goes
    await pilot.press("slash", *text, "enter")
    await until(pilot, lambda: screen.query_state.text == text, what=f"filter {text!r}")
    await settle(pilot)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_filters_tags_run_view_and_compare(seeded):
    from store import queue
    from store.queries import get_job, tags_for

    home, ids = seeded
    done, failed = ids["done"], ids["failed"]
    (sweep,) = queue.enqueue_many(home.db, [dict(kind="sweep", spec={"run": done, "bn": "train"},
                                                 label=f"sweep mix [0.5] bn=train of #{done}")], run_root="runs")
    assert queue.claim(home.db, worker="vm:1", host="vm", pid=1, device="cpu", job_id=sweep.id) is not None
    queue.finish(home.db, job_id=sweep.id, worker="vm:1", status="done")
    assert queue.record_usage(home.db, job_id=done, worker="vm:100",
                              usage={"gpu_mem_peak": 3 * 2**30, "gpu_util_mean": 0.5, "gpu_samples": 4, "cpu_s": 75.0})
    queue.set_note(home.db, job_id=done, note="the baseline")
    app = make_app(home)

    async def scenario(pilot):
        screen = pilot.app.screen
        assert sweep.id in table_ids(pilot)
        await filter_by(pilot, "train done")
        assert table_ids(pilot) == [done]  # not the sweep whose label says bn=train
        await filter_by(pilot, "heldout_mse<0.01")
        assert table_ids(pilot) == [done]
        await filter_by(pilot, "lr=0.5")
        assert table_ids(pilot) == [failed]

        await pilot.press("escape")
        await settle(pilot)
        await select_job(pilot, done)
        await pilot.press("t")
        await pilot.press(*"best", "enter")
        await until(pilot, lambda: tags_for(home.db, [done]).get(done) == ["best"], what="tag stored")
        await pilot.press("a")  # annotate: the note, its text ready to edit
        await pilot.press("end", *" v2", "enter")
        await until(pilot, lambda: get_job(home.db, done).note == "the baseline v2", what="note stored")
        await filter_by(pilot, "tag:best")
        assert table_ids(pilot) == [done]

        await open_run(pilot)  # the run view of the selected job: its tags, note and what it used
        text = screen_text(pilot.app)
        assert "best" in text and "the baseline v2" in text, text  # near the top: on screen
        summary = plain(pilot.app.screen.query_one("#run-summary"))  # the summary box scrolls
        assert "used     GPU mem peak 3.00 GiB · GPU util 50% · CPU 1m15s" in summary, summary
        await pilot.press("escape")
        await until(pilot, lambda: pilot.app.screen is screen, what="back")

        await pilot.press("escape")  # clear the filter
        await settle(pilot)
        for job_id in (done, failed):
            await select_job(pilot, job_id)
            await pilot.press("space")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.runs,
                    what="compare loaded")
        await settle(pilot)
        diff = pilot.app.screen.query_one("#compare-diff").render()
        lines = [line.split() for line in screen_text(pilot.app).splitlines()]
        assert ["lr", "0.0001", "0.5"] in lines, screen_text(pilot.app)
        assert ["held-out", "MSE", "0.0072", "—"] in lines and ["final", "loss", "0.0061", "—"] in lines
        assert not any(line[:1] == ["steps"] for line in lines)  # the same in both: not shown
        assert diff is not None

    drive(app, scenario, size=(100, 34))
