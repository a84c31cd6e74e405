"""The dashboard writes a report: `e` on the marked jobs (else the selected one), or
"Write report" from the command palette; it says where the file went."""

from __future__ import annotations

import pytest

from aetui.report import REPORTS

from .helpers import drive, make_app, select_job, settle, until


def notes(app) -> list[str]:
    return [n.message for n in app._notifications]


def first_hit(app) -> str:
    """The text of the command palette's first hit ("" while there is none)."""
    lists = app.screen.query("CommandList")
    if not lists or not lists.first().option_count:
        return ""
    prompt = lists.first().get_option_at_index(0).prompt
    return getattr(prompt, "plain", str(prompt)).splitlines()[0]


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_e_writes_the_report_of_the_marked_jobs_and_the_palette_of_the_selected_one(seeded):
    home, ids = seeded
    app = make_app(home)
    folder = home.path / REPORTS

    def reports():
        return sorted(folder.glob("*.html")) if folder.is_dir() else []

    async def scenario(pilot):
        # a walk and a probe: their pictures are the run's files, nothing to draw (quick)
        await select_job(pilot, ids["walk"])
        await pilot.press("space")
        await select_job(pilot, ids["probe"])
        await pilot.press("space")
        await pilot.press("e")
        await until(pilot, lambda: any("written to" in n for n in notes(pilot.app)), 120, "the report written")
        (first,) = reports()
        assert f"report of #{ids['walk']}, #{ids['probe']} written to {first}" in notes(pilot.app)
        text = first.read_text()
        assert f'<section id="job-{ids["walk"]}">' in text and f'<section id="job-{ids["probe"]}">' in text
        # the command palette, on the selected job once the marks are cleared
        await pilot.press("escape")
        await select_job(pilot, ids["sweep"])
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"write report")
        await until(pilot, lambda: first_hit(pilot.app) == "Write report", 60, "the palette's first hit")
        await pilot.press("enter")
        await until(pilot, lambda: len(reports()) == 2 and sum("written to" in n for n in notes(pilot.app)) == 2,
                    120, "the second report")
        (second,) = [p for p in reports() if p != first]
        assert f"report of #{ids['sweep']} written to {second}" in notes(pilot.app)
        assert f'<section id="job-{ids["sweep"]}">' in second.read_text()

    drive(app, scenario)
