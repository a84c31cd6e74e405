"""Actions from the dashboard, driven by keys in the real app, checked in the STORE and
on DISK: cancel, retry, priority, delete, launching jobs, starting a worker."""

from __future__ import annotations

import os
import signal
import time

import pytest

from aetui.tui.screens.confirm import ConfirmScreen
from aetui.tui.screens.launch import FROM_RUN_HIDDEN, LaunchScreen
from aetui.tui.screens.main import MainScreen
from aetui.tui.screens.prompt import PromptScreen
from aetui.tui.screens.run import RunScreen

from .helpers import burst, drive, job, make_app, select_job, settle, table_ids, until


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


def test_cancel_a_queued_job(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["queued"])
        await pilot.press("x")
        await until(pilot, lambda: job(home, ids["queued"]).status == "cancelled", what="cancel in the store")
        await settle(pilot)
        await until(pilot, lambda: pilot.app.screen.table.current.status == "cancelled", what="row updated")

    drive(app, scenario)
    assert job(home, ids["queued"]).ended_at is not None


def test_cancel_a_running_job_asks_its_worker(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["running"])
        await pilot.press("x")
        await until(pilot, lambda: job(home, ids["running"]).cancel_requested, what="cancel request")

    drive(app, scenario)
    assert job(home, ids["running"]).status == "running"


def test_refused_action_is_a_notification_not_a_crash(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["done"])
        await pilot.press("x")  # a finished job cannot be cancelled
        refusal = f"job {ids['done']} is done; only queued or running jobs can be cancelled"
        await until(pilot, lambda: refusal in notifications(pilot.app), what="error notification")
        assert isinstance(pilot.app.screen, MainScreen)

    drive(app, scenario)
    assert job(home, ids["done"]).status == "done"


def test_retry_a_failed_job(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["failed"])
        await pilot.press("R")
        await until(pilot, lambda: job(home, ids["failed"]).status == "queued", what="retry in the store")

    drive(app, scenario)
    assert job(home, ids["failed"]).error is None


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_priority_by_prompt_and_by_plus(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["queued"])
        await pilot.press("p")
        await until(pilot, lambda: isinstance(pilot.app.screen, PromptScreen), what="priority prompt")
        await pilot.press("ctrl+a", "ctrl+k", "7", "enter")  # clear the pre-filled value, type 7
        await until(pilot, lambda: job(home, ids["queued"]).priority == 7, what="priority 7")
        await settle(pilot)
        await until(pilot, lambda: pilot.app.screen.table.current.priority == 7, what="row refreshed")
        await pilot.press("plus")
        await until(pilot, lambda: job(home, ids["queued"]).priority == 8, what="priority 8")

    drive(app, scenario)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_delete_removes_rows_and_run_folder_after_confirmation(seeded):
    from store.queries import attempts, get_run, list_jobs

    home, ids = seeded
    target = ids["failed"]
    run_dir = home.run_dir(target)
    assert run_dir.is_dir() and attempts(home.db, target)
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, target)
        await pilot.press("D")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("n")  # changed my mind: nothing happens
        await settle(pilot)
        assert job(home, target).id == target and run_dir.is_dir()
        await pilot.press("D")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await until(pilot, lambda: not run_dir.exists(), what="run folder removed")
        await until(pilot, lambda: target not in table_ids(pilot), what="row gone from the table")

    drive(app, scenario)
    assert target not in [j.id for j in list_jobs(home.db)]
    assert get_run(home.db, target) is None and attempts(home.db, target) == []


def test_delete_of_a_job_with_dependents_says_so_before_asking(seeded):
    """The finished run #1 has a sweep, a walk and a probe started from it: the store would
    refuse the delete, so the dashboard says why at once instead of asking first."""
    home, ids = seeded
    target = ids["done"]
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, target)
        await pilot.press("D")
        await until(pilot, lambda: any("cannot be deleted" in m for m in notifications(pilot.app)),
                    what="refusal notified")
        await settle(pilot)
        assert not isinstance(pilot.app.screen, ConfirmScreen), "asked to confirm a delete that must fail"
        text = next(m for m in notifications(pilot.app) if "cannot be deleted" in m)
        assert all(f"#{ids[k]}" in text for k in ("sweep", "walk", "probe")), text

    drive(app, scenario)
    assert job(home, target).id == target and home.run_dir(target).is_dir()


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_delete_from_the_run_screen_goes_back(seeded):
    home, ids = seeded
    target = ids["cancelled"]
    home.run_dir(target).mkdir(parents=True, exist_ok=True)
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, target)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen), what="run screen")
        await pilot.press("D")
        await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="back on the main screen")
        await until(pilot, lambda: target not in table_ids(pilot), what="row gone")

    drive(app, scenario)
    assert not home.run_dir(target).exists()


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_new_training_job_from_a_selected_run(seeded):
    from store.queries import list_jobs

    home, ids = seeded
    app = make_app(home)
    before = {j.id for j in list_jobs(home.db)}

    async def scenario(pilot):
        await select_job(pilot, ids["done"])
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen) and pilot.app.screen.form is not None,
                    what="form")
        await settle(pilot)
        form = pilot.app.screen.form
        assert form.raw_values()["model"] == "unet" and form.raw_values()["steps"] == "60"  # pre-filled
        form.set_value("steps", 90)
        form.set_value("lr", 0.0003)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="form closed")
        await until(pilot, lambda: len(table_ids(pilot)) == len(before) + 1, what="new row")

    drive(app, scenario)
    new = [j for j in list_jobs(home.db) if j.id not in before]
    assert len(new) == 1
    j = new[0]
    assert j.kind == "train" and j.status == "queued" and j.parent_id is None
    assert j.spec["steps"] == 90 and j.spec["lr"] == 0.0003 and j.spec["model"] == "unet" and j.spec["res"] == 32
    assert j.spec["options"]["base_width"] == 4 and j.total_steps == 90


RES_33 = "res must be a power of two, got 33"


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_bad_form_value_keeps_the_form_open(seeded):
    from store.queries import count_jobs

    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["done"])
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen) and pilot.app.screen.form is not None,
                    what="form")
        pilot.app.screen.form.set_value("res", 33)  # not a power of two: the spec model refuses it
        await pilot.press("ctrl+s")
        await until(pilot, lambda: notifications(pilot.app), what="validation message")
        assert RES_33 in notifications(pilot.app), notifications(pilot.app)
        assert isinstance(pilot.app.screen, LaunchScreen)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="form cancelled")

    drive(app, scenario)
    assert sum(count_jobs(home.db).values()) == 8


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_launch_experiments_from_a_finished_training_run(seeded):
    """Sweep, walk and probe from run 1: each queues a job whose parent is run 1."""
    from aetui.tui import forms
    from store.queries import children

    kinds = ["sweep", "walk", "probe"]
    assert set(kinds) <= set(forms.experiment_kinds()), forms.experiment_kinds()  # a missing kind is a bug
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["done"])
        for kind in kinds:
            await pilot.press("l")
            await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen)
                        and pilot.app.screen.form is not None, what="launch form")
            screen = pilot.app.screen
            if screen.kind != kind:
                screen.query_one("#launch-kind").value = kind
                await until(pilot, lambda: screen.form is not None
                            and [f.name for f in screen.form.fields] == [
                                f.name for f in forms.form_fields(forms.spec_type(kind), hide=FROM_RUN_HIDDEN)],
                            what=f"{kind} form")
            await settle(pilot)
            if kind == "sweep":
                screen.form.set_value("levels", "0.2,0.4")  # the CLI's grid syntax, parsed by the spec model
            await pilot.press("ctrl+s")
            await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what=f"{kind} queued")

    drive(app, scenario)
    got = [c for c in children(home.db, ids["done"]) if c.status == "queued"]
    assert sorted(c.kind for c in got) == sorted(kinds)
    assert all(c.parent_id == ids["done"] for c in got)
    (sweep,) = [c for c in got if c.kind == "sweep"]
    assert sweep.spec["levels"] == [0.2, 0.4] and sweep.spec.get("checkpoint") is None


def test_launch_is_refused_for_a_run_that_is_not_a_finished_training(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["running"])
        await pilot.press("l")
        refusal = (f"job #{ids['running']} is a running train job: sweeps, walks and probes start "
                   "from a finished training run")
        await until(pilot, lambda: refusal in notifications(pilot.app), what="refusal")
        assert isinstance(pilot.app.screen, MainScreen)

    drive(app, scenario)


@pytest.mark.slow
def test_w_starts_a_background_worker(tmp_path):
    """A real detached worker process for an empty home, stopped again by pid."""
    from aetui.home import Home
    from aetui.worker.registry import running_workers

    home = Home(tmp_path / "home")
    app = make_app(home)

    async def scenario(pilot):
        await pilot.press("w")
        await until(pilot, lambda: running_workers(home), what="worker registered")

    try:
        drive(app, scenario)
        workers = running_workers(home)
        assert len(workers) == 1 and workers[0]["detached"]
    finally:
        for w in running_workers(home):
            os.kill(int(w["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while running_workers(home) and time.monotonic() < deadline:
            time.sleep(0.1)


def _typed(text: str) -> list[str]:
    return list(text)


@pytest.mark.slow  # twenty bursts through the real form: in make test, not the quick loop
@pytest.mark.parametrize("tries", [20])
def test_launch_form_queues_exactly_what_a_burst_of_keys_typed(seeded, tries):
    """Keys arriving all at once (select, `l`, move to `noise`, clear it, type, ctrl+s)
    queue exactly the values typed, every time; an invalid value keeps the form open and
    queues nothing. Repeated, since the defect was a race that lost 2 tries in 3: 3 tries in
    the quick loop, 20 in the whole suite."""
    from aetui.corruptions import parse_corruption
    from store.queries import children, count_jobs

    gauss = str(parse_corruption("gauss"))  # as a spec stores it, with its default parameters
    home, ids = seeded
    app = make_app(home)
    # the form opens on its first field, the kind; tab moves to the sweep's first field
    valid = ["l", "tab", "end", "ctrl+u", *_typed("gauss"), "ctrl+s"]
    invalid = ["l", "tab", "end", "ctrl+u", *_typed("gaussian"), "ctrl+s"]

    seeded_sweeps = {c.id for c in children(home.db, ids["done"])}

    def sweeps() -> list:
        return sorted((c for c in children(home.db, ids["done"]) if c.kind == "sweep" and c.id not in seeded_sweeps),
                      key=lambda c: c.id)

    async def scenario(pilot):
        await select_job(pilot, ids["done"])
        for n in range(1, tries + 1):
            burst(pilot, valid)
            await until(pilot, lambda: len(sweeps()) == n, timeout=20, what=f"sweep {n} queued")
            await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what=f"form {n} closed")
            assert sweeps()[-1].spec["noise"] == gauss, f"try {n} queued {sweeps()[-1].spec['noise']!r}"
        before = sum(count_jobs(home.db).values())
        for n in range(2):
            shown = set(map(id, pilot.app._notifications))
            burst(pilot, invalid)
            await until(pilot, lambda: any("gaussian" in m.message for m in pilot.app._notifications
                                           if id(m) not in shown), timeout=20, what=f"invalid try {n} refused")
            await settle(pilot)
            assert isinstance(pilot.app.screen, LaunchScreen), f"invalid try {n}: the form closed"
            assert sum(count_jobs(home.db).values()) == before, f"invalid try {n} queued a job"
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="form cancelled")

    drive(app, scenario, timeout=180)
    assert [s.spec["noise"] for s in sweeps()] == [gauss] * tries


def test_keys_that_move_the_cursor_act_before_a_launch_typed_behind_them(seeded):
    """`G l` in one burst launches from the row `G` moved to (the oldest run, #1), not
    from the row the cursor left; `/` then a word with an `l` types into the filter."""
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        screen = pilot.app.screen
        assert screen.table.current.id == ids["probe"]  # the newest row, not a training run
        burst(pilot, ["G", "l"])
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen), what="launch form")
        assert pilot.app.screen.source_run.id == ids["done"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="form closed")
        burst(pilot, ["g", "slash", *"mlp"])
        await until(pilot, lambda: screen.table.filter_text == "mlp", what="filter typed")
        await settle(pilot)
        assert isinstance(pilot.app.screen, MainScreen)

    drive(app, scenario)
