"""Small defects the tmux walkthrough at 80x24 and 200x50 left open (issue 14; see
docs/dashboard.md, "A walkthrough in tmux"), each driven by keys in the real app."""

from __future__ import annotations

import subprocess

import pytest

from aetui.tui.screens.confirm import ConfirmScreen
from aetui.tui.screens.launch import LaunchScreen
from aetui.tui.screens.prompt import PromptScreen
from aetui.tui.screens.results import ResultsScreen
from aetui.worker.registry import register

from .helpers import drive, make_app, open_run, screen_text, select_job, settle, until


def _footer(app) -> str:
    return screen_text(app).splitlines()[-1]


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_the_run_summary_fits_its_box_at_80x24(seeded):
    """The summary of a finished run took 23 lines in a box of 10 and scrolled: the lines
    that do not fit give way (named on the box's last line) and head the Spec tab."""
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await open_run(pilot, ids["done"])
        box = pilot.app.screen.query_one("#run-summary-box")
        assert box.virtual_size.height <= box.scrollable_content_region.height, (box.virtual_size, box.size)
        assert not box.show_vertical_scrollbar
        top = "\n".join(screen_text(pilot.app).splitlines()[1:11])
        for key in ("status   done", "progress 60/60", "loss 0.0061", "final_loss 0.0061", "heldout_mse 0.0072",
                    "more in 3 Spec: "):
            assert key in top, (key, top)
        await pilot.press("3")
        await settle(pilot)
        spec = screen_text(pilot.app)
        assert "folder" in spec and "requeue" in spec, spec

    drive(app, scenario, size=(80, 24))


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_space_plays_only_albums_that_play_and_a_caption_says_its_name_once(seeded):
    """`space Play/pause` showed in the footer for still pictures (a walk's filmstrip, a
    training run's grids), and the filmstrip's caption read `filmstrip · filmstrip`."""
    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        await open_run(pilot, ids["walk"])
        caption = str(pilot.app.screen.query_one("#run-image-caption").render())
        assert caption.strip() == "filmstrip", caption
        await pilot.press("r")
        await until(pilot, lambda: isinstance(pilot.app.screen, ResultsScreen)
                    and pilot.app.screen.results is not None, what="the walk's results")
        await settle(pilot)
        screen = pilot.app.screen
        assert screen.album.name == "frames" and "Play/pause" in _footer(pilot.app)
        await pilot.press("tab")
        await settle(pilot)
        assert screen.album.name == "filmstrip"
        assert "Play/pause" not in _footer(pilot.app), _footer(pilot.app)
        assert "filmstrip · filmstrip" not in screen_text(pilot.app)
        await pilot.press("space")  # does nothing on a still
        await settle(pilot)
        assert not screen.playing
        await pilot.press("tab")  # back on the frames: offered again
        await settle(pilot)
        assert "Play/pause" in _footer(pilot.app)

    drive(app, scenario, size=(100, 24))


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_forms_show_their_own_keys_in_the_footer(seeded):
    """The new-job and launch form and the tag, note and priority prompt showed the
    table's keys (Open, Mark, Filter...) below them, none of which act there."""
    home, ids = seeded
    app = make_app(home)
    seen: dict[str, str] = {}

    async def scenario(pilot):
        await select_job(pilot, ids["done"])
        # one of each screen: `l` opens the form `n` does, `a` and `p` the prompt `t` does
        for key, screen_type in (("n", LaunchScreen), ("t", PromptScreen)):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(pilot.app.screen, screen_type), what=f"the form of {key}")
            await settle(pilot)
            seen[key] = _footer(pilot.app)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(pilot.app.screen, screen_type), what="closed")

    drive(app, scenario, size=(80, 24))
    for key, footer in seen.items():
        for absent in ("Open", "Mark", "Filter", "Quit"):
            assert absent not in footer, (key, footer)
        assert "esc Cancel" in footer, (key, footer)
    for key in "n":
        assert "^s Queue it" in seen[key] and "tab Next field" in seen[key], seen[key]
    for key in "t":
        assert "OK" in seen[key], seen[key]


def test_W_asks_first_and_names_the_jobs_it_requeues(seeded):
    """W stopped the background worker at once: it asks (y/n, as delete does) and says
    which running jobs the stop sends back to the queue; n leaves it running."""
    from store import queue

    from aetui.worker.execute import owner_id

    home, ids = seeded
    proc = subprocess.Popen(["sleep", "120"])
    try:
        register(home, pid=proc.pid, devices=["cpu"], detached=True)
        queue.claim(home.db, worker=owner_id(proc.pid), host="vm", pid=proc.pid, device="cpu", job_id=ids["queued"])
        app = make_app(home)

        async def scenario(pilot):
            await pilot.press("W")
            await until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the question")
            await settle(pilot)
            text = screen_text(pilot.app)
            assert f"pid {proc.pid}" in text and "requeued" in text and f"#{ids['queued']} train" in text, text
            assert f"#{ids['running']} train" not in text  # another worker's job
            await pilot.press("n")
            await until(pilot, lambda: not isinstance(pilot.app.screen, ConfirmScreen), what="answered")
            await settle(pilot)

        drive(app, scenario)
        assert proc.poll() is None  # still running: n stops nothing
    finally:
        proc.kill()
        proc.wait()


def test_jobs_queued_apart_that_share_a_label_say_how_they_differ(home, monkeypatch):
    """Two `aetui queue unet --res 32` with another lr each were both listed as
    `unet res32 builtin:…`: where listed jobs of a kind share a label, `aetui runs` and the
    dashboard's table add the settings that differ among them (the stored labels stay)."""
    from aetui.home import Home

    from tests.conftest import aetui, aetui_json

    monkeypatch.setenv("COLUMNS", "160")  # `aetui runs` prints to a console this wide
    first, second, other = (int(aetui(home, "queue", "unet", "--res", res, "--lr", lr).stdout.split()[-1])
                            for res, lr in (("32", "1e-3"), ("32", "3e-4"), ("64", "1e-3")))
    stored = {j["id"]: j["label"] for j in aetui_json(home, "runs")}
    assert stored[first] == stored[second] and "lr=" not in stored[first], stored

    def line_of(text: str, job_id: int) -> str:
        return next(ln for ln in text.splitlines() if ln.split()[:1] == [str(job_id)])

    listed = aetui(home, "runs").stdout
    assert f"{stored[first]} lr=0.001" in line_of(listed, first), listed
    assert f"{stored[second]} lr=0.0003" in line_of(listed, second), listed
    assert "lr=" not in line_of(listed, other), listed  # alone with its label: as stored

    app = make_app(Home(home))

    async def scenario(pilot):
        text = screen_text(pilot.app)
        assert "lr=0.001" in line_of(text, first) and "lr=0.0003" in line_of(text, second), text
        assert "lr=" not in line_of(text, other), text

    drive(app, scenario, size=(200, 24))  # the label column is wide enough for the settings
