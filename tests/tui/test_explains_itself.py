"""A run that explains itself: what a job does before its first step (in the table, the
run view, `aetui runs` and `aetui show`), `stopping…` for a job whose stop was asked in
the CLI as in the dashboard, any scalar of a run on the plot, model options as form
fields, and times that never wrap inside a date and time."""

from __future__ import annotations

import pytest

from aetui.tui.screens.scalar_picker import ScalarPicker
from tests.conftest import aetui
from tests.tui.helpers import drive, job, make_app, open_run, screen_text, settle, until

PHASE = "preparing data 300/2048"


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_the_phase_before_the_first_step_shows_in_table_run_view_and_cli(seeded):
    from store import queue

    home, ids = seeded
    j = ids["running"]
    # what `JobContext.phase` writes: the job's line of progress in words, only while it holds the job
    assert queue.last_line(home.db, job_id=j, text=PHASE, owner="vm:100")
    assert not queue.last_line(home.db, job_id=j, text="other", owner="elsewhere:1")
    app = make_app(home)

    async def scenario(pilot):
        row = next(line for line in screen_text(pilot.app).splitlines() if line.lstrip().startswith(f"{j} "))
        assert "data 14%" in row and "120/400" not in row  # 80 columns: the phase, shortened
        await pilot.resize_terminal(200, 50)
        await settle(pilot)
        row = next(line for line in screen_text(pilot.app).splitlines() if line.lstrip().startswith(f"{j} "))
        assert PHASE in row
        screen = await open_run(pilot, j)
        assert PHASE in screen_text(pilot.app) and "doing" in screen_text(pilot.app)

    drive(app, scenario)
    assert PHASE in aetui(home.path, "runs").stdout
    assert f"progress  120/400  ({PHASE})" in aetui(home.path, "show", str(j)).stdout
    assert aetui(home.path, "show", str(j), "--json").stdout.count(PHASE) == 1
    # the first step's progress ends the phase; a phase left by an ended attempt is never shown
    queue.progress(home.db, job_id=j, step=121, owner="vm:100", words_done=True)
    assert job(home, j).last_line is None and PHASE not in aetui(home.path, "runs").stdout
    assert queue.last_line(home.db, job_id=ids["done"], text=PHASE)
    assert PHASE not in aetui(home.path, "show", str(ids["done"])).stdout


def test_runs_and_show_say_stopping_for_a_job_whose_stop_was_asked(seeded):
    from aetui import jobs
    from store.states import STOPPING

    home, ids = seeded
    j = ids["running"]
    assert STOPPING not in aetui(home.path, "runs").stdout
    jobs.cancel(home, j)
    runs = aetui(home.path, "runs").stdout
    row = next(line for line in runs.splitlines() if line.lstrip().startswith(f"{j} "))
    assert STOPPING in row
    show = aetui(home.path, "show", str(j)).stdout
    assert STOPPING in show.splitlines()[0]
    assert aetui(home.path, "show", str(j), "--json").stdout.count('"stopping": true') == 1


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_any_scalar_of_a_run_can_be_plotted_and_times_stay_whole(seeded):
    """The picker lists every scalar the run's events hold, whatever their names (a command
    job's own tags), and the plot shows the one picked, named on its axis; a run without a
    loss plots the first scalar it logged. The summary's times never wrap inside a date
    and time (at 100 columns they did)."""
    import re

    from tests.tui.seed import write_curve

    home, ids = seeded
    run_dir = home.run_dir(ids["done"])
    write_curve(run_dir, [(1, 0.5), (2, 0.75), (3, 0.875)], tag="eval/accuracy")
    write_curve(home.run_dir(ids["walk"]), [(1, 2.0), (2, 1.0)], tag="walk/step_size")
    app = make_app(home)

    async def scenario(pilot):
        screen = await open_run(pilot, ids["done"])
        text = screen_text(pilot.app)
        for name in ("created", "started", "ended"):
            line = next(line for line in text.splitlines() if f" {name} " in f" {line} ")
            assert re.search(rf"{name}\s+\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d", line), line
        plot = screen.query_one("#run-loss")
        assert plot.y_label == "loss" and len(plot.series[0].points) == 12
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, ScalarPicker), what="scalar picker")
        picker = pilot.app.screen
        assert picker.tags == ["train/loss", "eval/accuracy"]  # the loss first, then by name
        await pilot.press("down", "enter")
        await until(pilot, lambda: pilot.app.screen is screen and plot.y_label == "eval/accuracy",
                    what="the picked scalar plotted")
        await settle(pilot)
        assert [p[1] for p in plot.series[0].points] == [0.5, 0.75, 0.875]
        assert "eval/accuracy" in screen_text(pilot.app)
        await pilot.press("escape")
        screen = await open_run(pilot, ids["walk"])
        plot = screen.query_one("#run-loss")
        await until(pilot, lambda: plot.y_label == "walk/step_size", what="the run's own scalar")
        assert [p[1] for p in plot.series[0].points] == [2.0, 1.0]

    drive(app, scenario, size=(100, 30))


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_new_job_form_has_the_models_options_as_fields(seeded):
    """`n`: the model is a choice and its options are fields (not JSON); another model
    brings its own options; ctrl+s queues them."""
    from textual.widgets import Select

    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await pilot.press("n")
        await until(pilot, lambda: pilot.app.screen.query("#field-options--depth"), what="the form")
        screen = pilot.app.screen
        assert not screen.query("#field-options")  # no raw JSON text
        assert "base width" in screen_text(pilot.app)
        model = screen.query_one("#field-model", Select)
        model.value = screen.form._choices["model"].index("mlp")
        await until(pilot, lambda: screen.query("#field-options--hidden_layers"), what="the mlp's options")
        assert not screen.query("#field-options--depth")
        screen.form.set_value("res", 32)
        screen.form.set_value("options.width", 32)
        screen.form.set_value("steps", 3)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(pilot.app.screen, type(screen)), what="queued")

    drive(app, scenario, size=(100, 40))
    from store.queries import list_jobs

    newest = max(j.id for j in list_jobs(home.db))
    spec = job(home, newest).spec
    assert spec["model"] == "mlp" and spec["options"]["width"] == 32 and spec["options"]["hidden_layers"] == 5
