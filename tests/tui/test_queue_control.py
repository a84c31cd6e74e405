"""Queue control from the dashboard, driven by keys in the real app and checked in the
store and on the process table: pause and resume the queue (P), stop the background
worker (W), a running job shown as `stopping…` once its cancel was asked, and the line
printed on quitting about the worker that keeps running."""

from __future__ import annotations

import subprocess
import time

from aetui.tui.app import quit_note
from aetui.tui.screens.confirm import ConfirmScreen
from aetui.tui.screens.main import MainScreen
from aetui.tui.screens.run import RunScreen
from aetui.worker.registry import pid_alive, register

from .helpers import drive, job, make_app, screen_text, select_job, until


def _devices_text(app) -> str:
    return "\n".join(screen_text(app).splitlines()[-3:])


def test_P_pauses_and_resumes_the_queue_and_the_devices_strip_says_so(seeded):
    from aetui.jobs import is_paused

    home, _ = seeded
    app = make_app(home, devices_sampler=None)  # the real sampler: it reads the pause from the store

    async def scenario(pilot):
        assert "queue paused" not in screen_text(pilot.app)
        await pilot.press("P")
        await until(pilot, lambda: is_paused(home), what="paused in the store")
        await until(pilot, lambda: "queue paused" in _devices_text(pilot.app), what="paused on screen")
        await pilot.press("P")
        await until(pilot, lambda: not is_paused(home), what="resumed in the store")
        await until(pilot, lambda: "queue paused" not in _devices_text(pilot.app), what="resumed on screen")

    drive(app, scenario)


def test_W_stops_the_background_worker(seeded):
    """SIGTERM to the registered background worker (a stand-in process here: the worker's
    own answer to SIGTERM, checkpoint and requeue, is tested with the worker)."""
    home, _ = seeded
    proc = subprocess.Popen(["sleep", "120"])
    register(home, pid=proc.pid, devices=["cpu"], detached=True)
    app = make_app(home, devices_sampler=None)
    try:
        assert "keeps running (pid" in quit_note(home) and f"{proc.pid}" in quit_note(home)

        async def scenario(pilot):
            await until(pilot, lambda: f"pid {proc.pid}" in _devices_text(pilot.app), what="worker shown")
            await pilot.press("W")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the question")
            assert "No job runs on it now" in screen_text(pilot.app)
            await pilot.press("y")
            await until(pilot, lambda: proc.poll() is not None, what="worker ended")  # and reaped
            pilot.app.screen._sample_devices_now()  # the strip's next look (every 2 s in use)
            await until(pilot, lambda: "no worker running" in _devices_text(pilot.app), what="no worker shown")

        drive(app, scenario)
        assert proc.returncode == -15  # SIGTERM
        assert quit_note(home) == "aetui: no worker runs for this home; queued jobs wait for `aetui worker`"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_W_with_no_background_worker_says_so(seeded):
    home, _ = seeded
    app = make_app(home)

    async def scenario(pilot):
        await pilot.press("W")
        await until(pilot, lambda: "no worker runs" in [n.message for n in pilot.app._notifications],
                    what="notification")

    drive(app, scenario)


def test_a_cancelled_running_job_shows_stopping_until_its_worker_ends_it(seeded):
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await select_job(pilot, ids["running"])
        screen = pilot.app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("x")
        await until(pilot, lambda: job(home, ids["running"]).cancel_requested, what="cancel request")
        screen.refresh_now()
        await until(pilot, lambda: screen.table.current.stopping, what="row patched")
        line = next(ln for ln in screen_text(pilot.app).splitlines() if ln.strip().startswith(str(ids["running"])))
        assert "stopping…" in line and " running " not in line
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen), what="run screen")
        await until(pilot, lambda: "stopping…" in screen_text(pilot.app), what="run screen says stopping")

    drive(app, scenario)
    assert job(home, ids["running"]).status == "running"  # shown, not stored: the worker records the end
