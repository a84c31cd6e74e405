"""Typing the runs table's filter: the line being edited and what each key does to it.

The filter is typed in the table itself, not in an Input: keys that arrive in one burst
after '/' (slow SSH links deliver them so) are all queued to the focused table before
any focus change could take effect, so the table must read them. It hands them here.
What the words match is `aetui.tui.data.window.JobQuery` (and its SQL in `store.queries`).
"""

from __future__ import annotations

HINT = "enter: keep · esc: clear · done train tag:best lr=1e-3 heldout_mse<0.01 #id or text"


class FilterEditor:
    """The filter text and whether it is being typed (`active`, from '/' to enter or escape)."""

    def __init__(self) -> None:
        self.active = False
        self.text = ""

    def start(self) -> None:
        self.active = True

    def key(self, key: str, character: str | None) -> bool:
        """Apply a key pressed while typing (`character`: what it types, None if it types
        nothing). False for keys that are not editing (arrows, page keys...), which keep
        their usual meaning while typing."""
        text = self.text
        if key in ("enter", "escape"):
            self.active = False
            if key == "escape":
                text = ""
        elif key == "backspace":
            text = text[:-1]
        elif key == "ctrl+u":
            text = ""
        elif key == "ctrl+w":
            text = text.rstrip()[: text.rstrip().rfind(" ") + 1]  # drop the last word
        elif character:
            text += character
        else:
            return False
        self.text = text
        return True


def prompt(text: str) -> str:
    """The line shown above the table while the filter is typed."""
    return f"/{text}▏   {HINT}"
