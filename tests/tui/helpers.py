"""Helpers for the dashboard tests: build the app, drive it with Textual's pilot from
sync tests (`asyncio.run`), wait on conditions instead of sleeping, read the screen."""

from __future__ import annotations

import asyncio
import os
import time

from aetui.home import Home
from aetui.tui.data.devices import DeviceStat, DevicesReport

FIXED_DEVICES = DevicesReport(
    devices=(DeviceStat("cpu", "2 cores", 0.42, 3 * 2**30, 8 * 2**30, None, (2,)),),
    workers=({"pid": 4242, "devices": ["cpu"], "detached": True},),
    running_labels={2: "unet res32 builtin:64 lr=3e-4"},
)


def fixed_devices(home) -> DevicesReport:
    return FIXED_DEVICES


def make_app(home: Home, **kw):
    from aetui.tui.app import AetuiApp

    kw.setdefault("graphics", "halfblock")
    kw.setdefault("poll_s", 3600.0)  # tests refresh on purpose (or pass a short poll)
    kw.setdefault("devices_sampler", fixed_devices)
    return AetuiApp(home, **kw)


def drive(app, scenario, size=(80, 24), timeout: float = 240.0):
    """Run `scenario(pilot)` against the app at `size`, from a sync test. The deadlines here
    only end a test that hangs: on a loaded machine a passing one may take many times longer."""

    failure: list[BaseException] = []

    async def main():
        async with app.run_test(size=size) as pilot:
            await ready(pilot)
            try:
                await scenario(pilot)
            except BaseException as e:  # keep it: an error on the app's way out would hide it
                failure.append(e)
                raise

    try:
        asyncio.run(asyncio.wait_for(main(), timeout))
    except BaseException:
        if failure and not isinstance(failure[0], asyncio.CancelledError):
            raise failure[0] from None
        raise


async def settle(pilot) -> None:
    """Wait for the workers running now, then for the messages they posted. A worker
    superseded by a newer one of its group (exclusive) counts as finished."""
    for _ in range(2):
        await asyncio.gather(*(w.wait() for w in list(pilot.app.workers)), return_exceptions=True)
        await pilot.pause()


async def until(pilot, condition, timeout: float = 60.0, what: str = "condition") -> None:
    """Let the app run until `condition()` holds (a store change reaching the screen...)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def ready(pilot) -> None:
    """The main screen has its first window and the store is open."""
    from aetui.tui.screens.main import MainScreen

    screen = pilot.app.screen
    if isinstance(screen, MainScreen):
        await until(pilot, lambda: screen.table.loaded and screen.seen is not None, what="first load")
    await settle(pilot)


def table_ids(pilot) -> list[int]:
    """Job ids in the loaded window, in display order."""
    from aetui.tui.screens.main import MainScreen

    screen = next(s for s in pilot.app.screen_stack if isinstance(s, MainScreen))
    t = screen.table
    return [t.row_at(i).id for i in range(t.total) if t.row_at(i) is not None]


async def select_job(pilot, job_id: int) -> None:
    """Move the table's cursor onto a job by pressing keys, as a user would."""
    from aetui.tui.screens.main import MainScreen

    screen = pilot.app.screen
    assert isinstance(screen, MainScreen)
    ids = table_ids(pilot)
    target = ids.index(job_id)
    await pilot.press("g")
    for _ in range(target):
        await pilot.press("j")
    await pilot.pause()
    assert screen.table.current is not None and screen.table.current.id == job_id


async def open_run(pilot, job_id: int | None = None):
    """Open the run view of a job (the selected one when `job_id` is None) with Enter, as a
    user would, and wait until it has loaded; the screen."""
    from aetui.tui.screens.run import RunScreen

    if job_id is not None:
        await select_job(pilot, job_id)
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.data is not None,
                what=f"the run view of job {job_id if job_id is not None else '(selected)'}")
    await settle(pilot)
    return pilot.app.screen


def job(home: Home, job_id: int):
    from store.queries import get_job

    return get_job(home.db, job_id)


def screen_text(app) -> str:
    """The screen as plain text (what `tmux capture-pane` would show)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")


def burst(pilot, keys: list[str]) -> None:
    """Post `keys` to the app all at once, as an SSH connection delivers a burst of typing:
    nothing is awaited between them (Pilot's `press` waits for the app to go idle after
    each key, which hides races between a screen getting ready and the keys meant for it)."""
    import unicodedata

    from textual import events
    from textual.keys import _character_to_key, _get_unicode_name_from_key, REPLACED_KEYS

    driver = pilot.app._driver
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        try:
            char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(pilot.app)
        driver.send_message(event)
