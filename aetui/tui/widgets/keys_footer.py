"""The footer of every screen: the screen's keys on the left, and `?` (every key), `q`
and ctrl+p pinned on the right, where they stay when the screen's keys do not all fit
(at 80 columns Textual's footer cuts off whatever comes last, the app's own keys)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED = ("help", "quit", "command_palette")  # actions, in the order shown


class KeysFooter(Footer):
    DEFAULT_CSS = """
    KeysFooter HorizontalGroup.-pinned {
        dock: right;
        width: auto;
        height: 1;
        border-left: vkey $foreground 20%;
    }
    KeysFooter HorizontalGroup.-pinned FooterKey.-command-palette {
        dock: none;
        border-left: none;
    }
    """

    def compose(self) -> ComposeResult:
        pinned: dict[str, FooterKey] = {}
        for widget in super().compose():
            action = getattr(widget, "action", "").rpartition(".")[2]
            if isinstance(widget, FooterKey) and action in PINNED:
                pinned.setdefault(action, widget)
                continue
            yield widget
        if pinned:
            with HorizontalGroup(classes="-pinned"):
                for action in PINNED:
                    if action in pinned:
                        yield pinned[action]


class FormFooter(Footer):
    """The footer of a form or a question (the launch and new-job forms, the tag, note and
    priority prompts, a yes/no): only its own keys (ctrl+s, escape, tab...). A modal screen
    has no footer of its own, so the screen below showed through with its table's keys,
    none of which act while the form is open; the app's keys are left out too (`q` and `?`
    type into the field)."""

    def __init__(self, **kw) -> None:
        super().__init__(show_command_palette=False, **kw)

    def compose(self) -> ComposeResult:
        app_actions = {binding.action for node, binding, _, _ in self.screen.active_bindings.values()
                       if node is self.app}
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in app_actions:
                continue
            yield widget
