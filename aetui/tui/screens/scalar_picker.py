"""Choose which scalar of a run the plot shows: every tag its TensorBoard events hold
(`aetui.tui.data.curves.scalar_tags`), whatever their names, so a job that logs its own
scalars (a command job) is plotted as well as a training's loss. Used by the run view
(`s`); dismisses with the chosen tag, or None."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class ScalarPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape,q,s", "cancel", "Cancel")]

    def __init__(self, tags: list[str], current: str | None) -> None:
        super().__init__()
        self.tags, self.current = list(tags), current

    def compose(self) -> ComposeResult:
        with Vertical(id="scalar-picker", classes="dialog"):
            yield Static("Plot which scalar", classes="dialog-title")
            if self.tags:
                options = []
                for tag in self.tags:
                    line = Text(tag)
                    if tag == self.current:
                        line.append("  now", style="dim")
                    options.append(Option(line, id=tag))
                yield OptionList(*options)
            else:
                yield Static("this run has logged no scalars yet", classes="dim")
            yield Static("⏎ plots it · esc: cancel", classes="hint")

    def on_mount(self) -> None:
        if self.tags:
            menu = self.query_one(OptionList)
            menu.highlighted = self.tags.index(self.current) if self.current in self.tags else 0
            menu.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
