"""One line of input (e.g. a new priority); dismisses with the text, or None."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from aetui.tui.widgets.keys_footer import FormFooter


class PromptScreen(ModalScreen[str | None]):
    BINDINGS = [
        # priority: the field would take enter first, and the footer would not offer it
        Binding("enter", "ok", "OK", priority=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, question: str, value: str = "", *, kind: str = "text") -> None:
        super().__init__()
        self.question, self.value, self.kind = question, value, kind

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt", classes="dialog"):
            yield Static(self.question, markup=False)
            yield Input(self.value, type=self.kind, id="prompt-input")
            yield Static("enter: ok · esc: cancel", classes="hint")
        yield FormFooter()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_ok(self) -> None:
        self.dismiss(self.query_one("#prompt-input", Input).value)

    def action_cancel(self) -> None:
        self.dismiss(None)
