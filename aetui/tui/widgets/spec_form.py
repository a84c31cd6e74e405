"""A form generated from a spec model's fields (`aetui.tui.forms.form_fields`): one
row per field, the default filled in, the field's description under it. A training
form's model options are fields of their own, rebuilt when the model changes."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Label, Select, Static

from aetui.tui.forms import FormField, option_fields, parse_values
from aetui.tui.widgets.ordered_input import OrderedInput


def field_id(name: str) -> str:
    """A field's widget id (`options.depth` -> `field-options--depth`: ids take no dots)."""
    return "field-" + name.replace(".", "--")


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
        self._model: str | None = None  # the model whose options are shown, once it changed

    def compose(self) -> ComposeResult:
        options = [f for f in self.fields if f.of_model]
        for f in self.fields:
            if f.of_model:
                if f is options[0]:
                    yield Vertical(*(w for o in options for w in self._rows(o)), id="model-options")
                continue
            yield from self._rows(f)
        if not options and any(f.name == "model" and f.type == "choice" for f in self.fields):
            yield Vertical(id="model-options")  # a model without options: the place its options would go

    def _rows(self, f: FormField) -> list:
        """The row of one field (its name and input) and its description line."""
        name = f.label + (" *" if f.required else "")
        rows: list = [Horizontal(Label(name, classes="field-name"), self._input(f), classes="field")]
        help_text = " · ".join(t for t in (f.description, f.constraint) if t)
        if help_text:
            rows.append(Static(help_text, classes="field-help", markup=False))
        return rows

    async def on_select_changed(self, event: Select.Changed) -> None:
        """A new model: its own options replace the last model's (the event goes on up)."""
        if event.select.id != "field-model" or not self.query("#model-options"):
            return
        model = self._choices["model"][event.value] if isinstance(event.value, int) else None
        if model is None:
            return
        shown = next((f.default for f in self.fields if f.name == "model"), None)
        if model == (self._model or shown):
            return  # the model whose options are shown (a Select reports its first value too)
        self._model = model
        fresh = option_fields(model)
        at = next((i for i, f in enumerate(self.fields) if f.of_model), None)
        if at is None:
            at = next(i for i, f in enumerate(self.fields) if f.name == "model") + 1
        kept = [f for f in self.fields if not f.of_model]
        self.fields = kept[:at] + fresh + kept[at:]
        box = self.query_one("#model-options", Vertical)
        await box.remove_children()
        for f in fresh:
            self._choices.pop(f.name, None)
        await box.mount_all([w for f in fresh for w in self._rows(f)])

    def _input(self, f: FormField):
        wid = field_id(f.name)
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
            widget = self.query_one(f"#{field_id(f.name)}")
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
        widget = self.query_one(f"#{field_id(name)}")
        if isinstance(widget, Select):
            widget.value = self._choices[name].index(value)
        else:
            widget.value = f.text(value)
