"""The launch forms and your own model: launched from a run of it, the walk and probe forms
offer only what the model supports (recorded when it trained); the new-job form queues a
`PATH.py:NAME` model, snapshot included, as `aetui queue` does."""

from __future__ import annotations

from pathlib import Path

import pytest

from aetui.home import Home
from aetui.tui.forms import MODEL_REF, OWN_MODEL
from aetui.tui.widgets.spec_form import field_id
from aetui.tui.screens.launch import LaunchScreen
from aetui.tui.screens.main import MainScreen

from .helpers import drive, make_app, select_job, settle, until

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "my_ae.py"


def _finished_custom_run(home: Home) -> int:
    """A training job of the example's `plain` model (no encode/decode, no probe layers),
    marked done with what its training would have recorded."""
    from aetui import jobs
    from store import queue
    from store.states import JobStatus

    (job,) = jobs.submit(home, "train", [{"model": f"{EXAMPLE}:plain", "res": 32, "steps": 1}])
    assert queue.claim(home.db, worker="w", host="h", pid=1, device="cpu").id == job.id
    queue.record_run(home.db, job_id=job.id, results={"model": {"latent": False, "layers": ["output"]}})
    queue.finish(home.db, job_id=job.id, worker="w", status=JobStatus.DONE)
    return job.id


@pytest.mark.slow
def test_launch_forms_offer_what_your_model_supports_and_the_new_job_form_takes_one(tmp_path):
    home = Home(tmp_path / "home")
    run = _finished_custom_run(home)
    app = make_app(home)
    seen: dict[str, list] = {}

    async def scenario(pilot):
        await select_job(pilot, run)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen), what="launch form")
        screen = pilot.app.screen
        for kind, field in (("walk", "mode"), ("probe", "layer")):
            await screen._show(kind)
            await settle(pilot)
            seen[kind] = screen.form._choices[field]
            assert not screen.form.query("#field-model"), "a run's model is its own: no model file field"
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="form closed")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen), what="new job form")
        form = pilot.app.screen.form
        form.set_value("model", OWN_MODEL)  # the choice after the built-in models
        await until(pilot, lambda: form.query(f"#{field_id(MODEL_REF)}"), what="the model file field")
        assert not form.query("#field-options--depth")  # the U-Net's options went
        await pilot.press("ctrl+s")  # no file named yet: the form stays open and says so
        await until(pilot, lambda: any("model file" in str(n.message) for n in pilot.app._notifications),
                    what="the missing file named")
        assert isinstance(pilot.app.screen, LaunchScreen)
        form.set_value(MODEL_REF, f"{EXAMPLE.parent / 'nope.py'}:ConvAE")
        await pilot.press("ctrl+s")  # a file that is not there: refused as `aetui queue` refuses it
        await until(pilot, lambda: any("nope.py" in str(n.message) for n in pilot.app._notifications),
                    what="the missing file refused")
        assert isinstance(pilot.app.screen, LaunchScreen)
        pilot.app.clear_notifications()
        form.set_value(MODEL_REF, f"{EXAMPLE}:ConvAE")
        form.set_value("res", 32)
        form.set_value("options", {"latent": 4})
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen) or list(pilot.app._notifications),
                    what="queued")
        assert isinstance(pilot.app.screen, MainScreen), [n.message for n in pilot.app._notifications]

    drive(app, scenario, size=(100, 40), timeout=120)
    assert seen == {"walk": ["iterate", "diffuse"], "probe": ["output"]}
    from store.queries import get_job, get_run

    job = get_job(home.db, run + 1)
    assert job.spec["model"] == f"{EXAMPLE}:ConvAE" and job.spec["options"] == {"latent": 4}
    assert set(job.spec["code"]["model"]["files"]) == {"my_ae.py", "ae_parts.py"}
    folder = Path(home.path) / get_run(home.db, job.id).run_dir / "code" / "model"
    assert (folder / "ae_parts.py").read_bytes() == (EXAMPLE.parent / "ae_parts.py").read_bytes()
