"""`?`: every key of the screen below and of the app, with what it does."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static


# Textual's generic bindings that say nothing about aetui (still in the command palette)
NOISE = {"scroll_left", "scroll_right", "page_left", "page_right", "focus_next", "focus_previous", "copy_text",
         "maximize", "minimize"}


WIDGET_NAMES = {"JobTable": "table", "Log": "log", "DataTable": "table"}


def key_rows(screen: Screen) -> list[tuple[str, str, str]]:
    """(where, keys, description) of every binding reachable on `screen`, keys of one
    action joined (from Textual's `active_bindings`: focused widget, screen, app)."""
    grouped: dict[tuple[int, str], tuple[str, list[str], str]] = {}
    for key, active in screen.active_bindings.items():
        node, binding = active.node, active.binding
        if not binding.description or binding.action.rpartition(".")[2] in NOISE:
            continue
        where = "app" if node is screen.app else ("screen" if node is screen else
                                                  WIDGET_NAMES.get(type(node).__name__, type(node).__name__))
        what = binding.description + (f" — {binding.tooltip}" if binding.tooltip else "")
        entry = grouped.setdefault((id(node), binding.action), (where, [], what))
        shown = binding.key_display or screen.app.get_key_display(binding)
        if shown not in entry[1]:
            entry[1].append(shown)
    order = {"app": 2, "screen": 1}  # the focused widget's keys first
    rows = [(where, " ".join(keys), desc) for where, keys, desc in grouped.values()]
    return sorted(rows, key=lambda r: order.get(r[0], 0))


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q,question_mark", "close", "Close"),
        Binding("j,down", "scroll(1)", "Down", show=False),
        Binding("k,up", "scroll(-1)", "Up", show=False),
        Binding("space,pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("g,home", "jump(0)", "Top", show=False),
        Binding("G,end", "jump(1)", "Bottom", show=False),
    ]

    def __init__(self, below: Screen) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        table = Table(box=None, pad_edge=False, show_header=False, expand=True)
        table.add_column("keys", style="bold cyan", no_wrap=True)
        table.add_column("what")
        table.add_column("where", style="dim", no_wrap=True)
        for where, keys, desc in key_rows(self.below):
            table.add_row(keys, desc, where)
        with Vertical(id="help", classes="dialog"):
            yield Static("Keys  (ctrl+p: command palette finds every action)", classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
            yield Static("j/k, space, g/G: scroll · esc: close", classes="hint")

    # the list is longer than a 24-line terminal: it scrolls with the keys the table uses
    @property
    def _scroll(self) -> VerticalScroll:
        return self.query_one(VerticalScroll)

    def action_scroll(self, lines: int) -> None:
        self._scroll.scroll_relative(y=lines, animate=False, immediate=True)

    def action_page(self, direction: int) -> None:
        view = self._scroll
        view.scroll_relative(y=direction * max(1, view.scrollable_content_region.height - 1), animate=False,
                             immediate=True)

    def action_jump(self, end: int) -> None:
        view = self._scroll
        view.scroll_to(y=view.max_scroll_y if end else 0, animate=False, immediate=True)

    def action_close(self) -> None:
        self.dismiss(None)
