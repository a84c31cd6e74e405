"""The one duration formatter (`aetui runs` ages and ETAs, the dashboard's ETA column)."""

from __future__ import annotations

import pytest

from aetui.durations import duration


@pytest.mark.parametrize("seconds, text", [
    (None, ""),
    (-5, ""),  # a clock that moved back: nothing rather than "-5s"
    (0, "0s"),
    (0.4, "0s"),
    (0.6, "1s"),  # rounded, not cut
    (59.4, "59s"),
    (59.6, "1m00s"),
    (60, "1m00s"),
    (185, "3m05s"),
    (3599, "59m59s"),
    (3600, "1h00m"),
    (5 * 3600 + 7 * 60 + 20, "5h07m"),
    (47 * 3600 + 59 * 60, "47h59m"),
    (48 * 3600, "2d00h"),  # days past two
    (3 * 86400 + 4 * 3600 + 59 * 60, "3d04h"),
    (400 * 86400, "400d00h"),
])
def test_duration(seconds, text):
    assert duration(seconds) == text


def test_the_cli_and_the_dashboard_use_the_same_formatter():
    from aetui.cli import render
    from aetui.tui import format as fmt

    assert render.fmt_duration is duration and fmt.duration is duration
