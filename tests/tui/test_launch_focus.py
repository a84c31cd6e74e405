"""The launch form shows where the typing goes: every Tab stop is a field or a button, in
view, and the focused one stands out from the rest (issue 14, defect 2)."""

from __future__ import annotations

import pytest
from textual.widgets import Button, Input, Select

from aetui.tui.screens.launch import LaunchScreen
from aetui.tui.screens.main import MainScreen

from .helpers import drive, make_app, select_job, settle, until


def _shade(widget):
    """The colour a field's value is drawn on (a choice draws it in its SelectCurrent)."""
    if isinstance(widget, Select):
        widget = widget.query_one("SelectCurrent")
    return widget.background_colors[1]


def _apart(a, b) -> int:
    return abs(a.r - b.r) + abs(a.g - b.g) + abs(a.b - b.b)


def _stops(screen) -> list[str]:
    """The form's Tab stops, in order (what Tab and shift+Tab walk): each a field or a
    button on show."""
    chain = screen.focus_chain
    for w in chain:
        assert isinstance(w, (Input, Select, Button)), f"dead Tab stop {w!r}"
        assert all(node.display for node in w.ancestors_with_self if node is not screen), f"{w.id} is hidden"
    return [w.id for w in chain]


async def _check_focus_shows(pilot, presses: int) -> None:
    """Tab `presses` times; at each stop the focused field stands out and its name is lit."""
    screen = pilot.app.screen
    for _ in range(presses):
        focused = pilot.app.focused
        other = next(w for w in screen.query("#launch-priority, #launch-device") if w is not focused)
        assert _apart(_shade(focused), _shade(other)) >= 60, f"focused {focused.id} looks like {other.id}"
        siblings = list(focused.parent.children)
        assert siblings[siblings.index(focused) - 1].has_class("-current"), f"the name of {focused.id} is not lit"
        assert len(screen.query("Label.-current")) == 1
        await pilot.press("tab")


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_every_tab_stop_of_every_kind_is_a_visible_field(seeded):
    home, ids = seeded
    app = make_app(home)
    rounds: dict[str, list[str]] = {}

    async def scenario(pilot):
        await select_job(pilot, ids["done"])
        await pilot.press("l")
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen), what="launch form")
        screen = pilot.app.screen
        await _check_focus_shows(pilot, 3)  # the kind (a choice), then text fields
        for n, kind in enumerate(screen.kinds):
            if n:  # choose the next kind from the list, by keys
                screen.query_one("#launch-kind").focus()
                await pilot.press("enter", "down", "enter")
                await until(pilot, lambda: screen.kind == kind, what=f"{kind} form")
                await settle(pilot)
            rounds[kind] = _stops(screen)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), what="form closed")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(pilot.app.screen, LaunchScreen), what="new job form")
        await settle(pilot)
        rounds["train"] = _stops(pilot.app.screen)
        await _check_focus_shows(pilot, 2)

    drive(app, scenario, size=(80, 24), timeout=120)
    assert {"sweep", "walk", "probe", "train"} <= set(rounds)
    for kind, stops in rounds.items():
        assert stops[-2:] == ["launch-submit", "launch-cancel"], (kind, stops)
        assert kind == "train" or stops[0] == "launch-kind", (kind, stops)
        assert {"launch-priority", "launch-device"} <= set(stops), (kind, stops)
        assert len(stops) == len(set(stops)), (kind, stops)
