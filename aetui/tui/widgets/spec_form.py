"""A form generated from a spec model's fields (`aetui.tui.forms.form_fields`): one
row per field, the default filled in, the field's description under it."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Label, Select, Static

from aetui.tui.forms import FormField, parse_values
from aetui.tui.widgets.ordered_input import OrderedInput


def _choice_label(value: Any) -> str:
    if value is None:
        return "default"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return str(value)


class SpecForm(VerticalScroll):
    """Inputs for `fields`; `values()` returns the spec dict (UserError if a text is bad).

    Not itself a Tab stop (a scroll container is by default): Tab goes from field to field."""

    can_focus = False

    def __init__(self, fields: list[FormField], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.fields = fields
        self._choices: dict[str, list[Any]] = {}

    def compose(self) -> ComposeResult:
        for f in self.fields:
            with Horizontal(classes="field"):
                name = f.label + (" *" if f.required else "")
                yield Label(name, classes="field-name")
                yield self._input(f)
            help_text = " · ".join(t for t in (f.description, f.constraint) if t)
            if help_text:
                yield Static(help_text, classes="field-help", markup=False)

    def _input(self, f: FormField):
        wid = f"field-{f.name}"
        if f.type in ("bool", "choice"):
            choices = list(f.choices) if f.type == "choice" else [True, False]
            if f.default not in choices:
                choices.insert(0, f.default)
            self._choices[f.name] = choices
            options = [(_choice_label(c), n) for n, c in enumerate(choices)]
            return Select(options, value=choices.index(f.default), allow_blank=False, compact=True, id=wid,
                          classes="field-input")
        kind = {"int": "integer", "float": "number"}.get(f.type, "text")
        placeholder = "required" if f.required else (
            "default" if f.optional or f.default in (None, [], {}) else "")
        return OrderedInput(f.text(f.default), type=kind, placeholder=placeholder, compact=True, id=wid,
                     classes="field-input", select_on_focus=False)

    def raw_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            widget = self.query_one(f"#field-{f.name}")
            if isinstance(widget, Select):
                out[f.name] = self._choices[f.name][widget.value]
            else:
                out[f.name] = widget.value
        return out

    def values(self) -> dict[str, Any]:
        return parse_values(self.fields, self.raw_values())

    def set_value(self, name: str, value: Any) -> None:
        """Set one field (tests and pre-filling use this)."""
        f = next(f for f in self.fields if f.name == name)
        widget = self.query_one(f"#field-{name}")
        if isinstance(widget, Select):
            widget.value = self._choices[name].index(value)
        else:
            widget.value = f.text(value)
