"""`o`: sort the runs table by a column chosen in one step, by its letter or from the
list (the old `o` cycled through every column in turn). Dismisses with the column's sort
key, or None."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from aetui.tui.data.window import SORT_KEYS
from aetui.tui.widgets.job_table import COLUMNS

# a letter per sortable column, shown in the menu; not j/k (they move in lists elsewhere)
LETTERS = {"id": "i", "kind": "K", "model": "m", "res": "r", "status": "s", "progress": "p", "loss": "l",
           "images_per_s": "t", "eta": "e", "device": "d", "priority": "P"}
TITLES = {c.key: c.title for c in COLUMNS}
NAMES = {"images_per_s": "img/s (throughput)", "priority": "pri (priority)", "eta": "ETA"}


class SortMenu(ModalScreen[str | None]):
    BINDINGS = [
        Binding("escape,q,o", "cancel", "Cancel"),
        *[Binding(LETTERS[key], f"choose('{key}')", f"Sort by {TITLES.get(key, key)}", show=False)
          for key in SORT_KEYS if key in LETTERS],
    ]

    def __init__(self, current: str, descending: bool) -> None:
        super().__init__()
        self.current, self.descending = current, descending

    def compose(self) -> ComposeResult:
        options = []
        for key in SORT_KEYS:
            line = Text()
            line.append(f" {LETTERS.get(key, ' ')}  ", style="bold cyan")
            line.append(NAMES.get(key, TITLES.get(key, key)))
            if key == self.current:
                line.append(f"  {'▼' if self.descending else '▲'} now (again: reverse)", style="dim")
            options.append(Option(line, id=key))
        with Vertical(id="sort-menu", classes="dialog"):
            yield Static("Sort by", classes="dialog-title")
            yield OptionList(*options)
            yield Static("letter or ⏎ · esc: cancel", classes="hint")

    def on_mount(self) -> None:
        menu = self.query_one(OptionList)
        menu.highlighted = SORT_KEYS.index(self.current) if self.current in SORT_KEYS else 0
        menu.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_choose(self, key: str) -> None:
        self.dismiss(key)

    def action_cancel(self) -> None:
        self.dismiss(None)
