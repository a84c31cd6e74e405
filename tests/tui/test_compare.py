"""Compare on sweeps: their level curves (a measure against the noise level), with the
axes named so, and triplets stepped by level, never called a step (issue 14, defect 5)."""

from __future__ import annotations

import shutil

import pytest

from aetui.tui.screens.compare import CompareScreen

from .helpers import drive, make_app, screen_text, select_job, settle, table_ids, until


def second_sweep(home, ids) -> int:
    """Another finished sweep of run #1, its results a copy of the seeded one's, halved."""
    from aetui.run_owner import resolve
    from store import queue
    from store.queries import get_run

    first = get_run(home.db, ids["sweep"])
    job = queue.enqueue_many(home.db, [dict(kind="sweep", spec={"run": ids["done"], "noise": "gauss",
                                                                 "levels": [0.1, 0.3, 0.5]},
                                            label=f"sweep of #{ids['done']} gauss", total_steps=0)],
                             run_root=str(home.runs), parent_id=ids["done"])[0]
    got = queue.claim(home.db, worker="vm:100", host="vm", pid=100, device="cpu", job_id=job.id)
    assert got is not None
    shutil.copytree(resolve(home.path, first.run_dir), home.run_dir(job.id), dirs_exist_ok=True)
    points = [{**p, "ratio": p["ratio"] / 2, "output_mse": p["output_mse"] / 2} for p in first.results["points"]]
    queue.record_run(home.db, job_id=job.id, artifacts=first.artifacts, results={"points": points})
    queue.finish(home.db, job_id=job.id, worker="vm:100", status="done")
    return job.id


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_compare_two_sweeps_plots_their_level_curves(seeded):
    home, ids = seeded
    other = second_sweep(home, ids)
    app = make_app(home)

    async def scenario(pilot):
        await until(pilot, lambda: other in table_ids(pilot), what="the new sweep listed")
        await select_job(pilot, other)
        await pilot.press("space")
        await select_job(pilot, ids["sweep"])
        await pilot.press("space")
        await pilot.press("c")
        await until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen) and pilot.app.screen.runs,
                    what="compare loaded")
        await settle(pilot)
        screen = pilot.app.screen
        plot = screen.query_one("#compare-plot")
        by_name = {s.name: s.points for s in plot.series}
        assert by_name[f"#{ids['sweep']}"] == ((0.1, 0.4), (0.3, 0.2), (0.5, 0.4 / 3))
        assert by_name[f"#{other}"] == ((0.1, 0.2), (0.3, 0.1), (0.5, 0.4 / 6))
        text = screen_text(pilot.app)
        assert "no loss points yet" not in text
        assert "noise level" in text and "ratio" in text, text
        assert "step" not in screen.query_one("#compare-step").render().plain
        await pilot.press("left")  # the triplets go level by level
        await settle(pilot)
        assert "level 0.3" in screen.query_one("#compare-step").render().plain
        assert [v.path.name for v in (screen.query_one(f"#compare-image-{n}") for n in range(2))] == \
            ["level_1.png"] * 2
        await pilot.press("m")  # another measure against the level
        await settle(pilot)
        assert dict((s.name, s.points) for s in plot.series)[f"#{other}"] == ((0.1, 0.002), (0.3, 0.004),
                                                                             (0.5, 0.006))
        assert "output MSE" in screen_text(pilot.app)

    drive(app, scenario, size=(100, 30))
