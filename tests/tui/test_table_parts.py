"""The runs table's parts without a terminal: the window of rows it holds (and which
window it asks for next) and the filter line's editing keys. The table in the real app
is tested in test_table.py."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aetui.tui.data.rows import JobRow
from aetui.tui.data.window_cache import WindowCache
from aetui.tui.widgets.filter_editor import FilterEditor


def _row(job_id: int, label: str = "") -> JobRow:
    return JobRow(id=job_id, kind="train", status="queued", label=label, model=None, res=None, priority=0,
                  device="", step=0, total_steps=0, loss=None, images_per_s=None, eta_s=None, parent_id=None,
                  error=None, last_line=None, created_at=0.0, updated_at=0.0)


def test_the_window_holds_rows_by_index_and_patches_them_by_id():
    cache = WindowCache()
    cache.put(10, [_row(90), _row(89), _row(88)])
    assert len(cache) == 3 and cache.ids() == {88, 89, 90} and cache.max_id() == 90
    assert cache.get(11).id == 89 and cache.get(9) is None and cache.index_of(88) == 12
    assert cache.replace(_row(89, "new")) == 11 and cache.get(11).label == "new"
    assert cache.replace(_row(7)) is None and cache.get(11) == replace(_row(89), label="new")
    cache.put(0, [_row(5)])
    assert cache.ids() == {5} and cache.index_of(90) is None


def test_the_window_asks_for_missing_rows_once_until_they_come_or_are_forgotten():
    cache = WindowCache()
    # nothing held: a screen above the top (clamped at 0) to two screens below
    assert cache.wanted(top=0, height=20, cursor=0, total=1000) == (0, 70)
    assert cache.wanted(top=0, height=20, cursor=0, total=1000) is None  # on its way
    cache.forget_pending()
    assert cache.wanted(top=0, height=20, cursor=0, total=1000) == (0, 70)
    cache.put(0, [_row(1000 - i) for i in range(70)])
    assert cache.wanted(top=30, height=20, cursor=35, total=1000) is None  # all in view held
    assert cache.wanted(top=60, height=20, cursor=65, total=1000) == (40, 70)  # rows 70.. missing
    # the cursor's row is missing (e.g. after G): the window follows the cursor, not the top
    assert cache.wanted(top=0, height=20, cursor=999, total=1000) == (979, 70)
    # the view runs past the last row: only rows that exist are needed
    cache.put(0, [_row(3 - i) for i in range(3)])
    assert cache.wanted(top=0, height=20, cursor=2, total=3) is None


@pytest.mark.parametrize("start, keys, text, active", [
    ("", [("r", "r"), ("e", "e"), ("s", "s")], "res", True),
    ("res", [("slash", "/")], "res/", True),  # once typing, '/' is text
    ("res64", [("backspace", None)], "res6", True),
    ("", [("backspace", None)], "", True),
    ("unet res64", [("ctrl+w", None)], "unet ", True),
    ("unet res64  ", [("ctrl+w", None)], "unet ", True),
    ("res64", [("ctrl+w", None)], "", True),
    ("unet res64", [("ctrl+u", None)], "", True),
    ("unet", [("enter", None)], "unet", False),
    ("unet", [("escape", None)], "", False),
])
def test_filter_keys_edit_the_line(start, keys, text, active):
    editor = FilterEditor()
    editor.text = start
    editor.start()
    for key, character in keys:
        assert editor.key(key, character) is True
    assert (editor.text, editor.active) == (text, active)


@pytest.mark.parametrize("key", ["up", "down", "pagedown", "home", "f1"])
def test_keys_that_type_nothing_keep_their_meaning_while_typing(key):
    editor = FilterEditor()
    editor.start()
    editor.text = "res"
    assert editor.key(key, None) is False
    assert (editor.text, editor.active) == ("res", True)
