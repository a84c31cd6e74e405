"""Defects found walking through the dashboard in tmux at 80x24 and 200x50 as a user
(docs/dashboard.md, "A walkthrough in tmux")."""

from __future__ import annotations

import pytest

from aetui.tui.screens.launch import LaunchScreen

from .helpers import drive, make_app, screen_text, settle, until


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_new_job_form_shows_every_option_of_the_model(seeded):
    """At 80x24 the U-Net's options (base width, depth, skips, bottleneck) all show as
    Tab moves through them: their box was as tall as one row, so only `base width` was
    ever on screen and depth could be typed into unseen."""
    home, _ = seeded
    app = make_app(home)
    seen: dict[str, bool] = {}

    async def scenario(pilot):
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen), what="the form")
        await settle(pilot)
        screen = pilot.app.screen
        options = [f for f in screen.form.fields if f.option is not None]
        assert {f.label for f in options} >= {"base width", "depth", "skips", "bottleneck"}
        for _ in range(len(screen.focus_chain)):
            if len(seen) == len(options):
                break
            focused = pilot.app.focused
            f = next((f for f in options if focused is not None and focused.id == f"field-options--{f.option}"), None)
            if f is not None:
                lines = screen_text(pilot.app).splitlines()
                seen[f.label] = any(line.split("│")[1:2] and line.split("│")[1].strip().startswith(f.label)
                                    for line in lines)
            await pilot.press("tab")

    drive(app, scenario, size=(80, 24))
    assert seen and all(seen.values()), seen


def test_walk_frames_are_titled_by_their_walk_step(tmp_path):
    """A walk saving every 2nd step showed `frame 15` for the frame of step 28: its title
    is the walk step, out of the walk's steps (what the filmstrip's columns say)."""
    from aetui.tui.data.results import load_results

    (tmp_path / "frames").mkdir()
    names = [f"frames/frame_{s:05d}.png" for s in (0, 2, 4)]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    results = load_results("walk", tmp_path, {"frames": names},
                           {"steps": 4, "frame_steps": [0, 2, 4]})
    album = next(a for a in results.albums if a.name == "frames")
    assert [p.title for p in album.pictures] == ["step 0/4", "step 2/4", "step 4/4"]


def test_a_claimed_job_says_it_is_starting_before_its_process_speaks(seeded):
    """Between a worker's claim and the job's first words (`preparing data`, seconds later
    while its process imports PyTorch) the row said `0/150`, as if nothing happened: it
    says `starting` (until the job's own phase, or its first step, replaces it)."""
    from store import queue

    home, ids = seeded
    app = make_app(home)

    async def scenario(pilot):
        queue.claim(home.db, worker="vm:7", host="vm", pid=7, device="cpu", job_id=ids["queued"])
        await pilot.press("ctrl+r")
        row = f"{ids['queued']:>5} train"

        def shown() -> str:
            return next((line for line in screen_text(pilot.app).splitlines() if line.startswith(row)), "")

        await until(pilot, lambda: "running" in shown(), what="the claimed job's row")
        assert "starting" in shown(), shown()

    drive(app, scenario, size=(100, 30))


def test_a_field_without_a_practical_limit_shows_none():
    """The seed said `>= -4611686018427387904, <= 4611686018427387904` under its field in
    every form (the 64-bit range it is kept in): a bound nobody types is not shown; real
    ones are (`>= 1` for steps)."""
    from aetui.tui.forms import form_fields, spec_type

    for kind in ("train", "sweep"):
        fields = {f.name: f for f in form_fields(spec_type(kind))}
        assert fields["seed"].constraint == "", (kind, fields["seed"].constraint)
    assert fields["images"].constraint.startswith(">= 1")
