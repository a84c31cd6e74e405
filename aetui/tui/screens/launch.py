"""The launch form: a sweep, walk or probe from a finished training run, or a new
training job. The form is generated from the kind's pydantic spec model, and the job
is queued with `aetui.jobs.submit`, as `aetui sweep/walk/probe/queue` do."""

from __future__ import annotations

from typing import Any

from textual import events, work
from textual.actions import SkipAction
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from aetui.errors import UserError
from aetui.tui.data.rows import JobRow
from aetui.tui.widgets.keys_footer import FormFooter
from aetui.tui.widgets.ordered_input import OrderedInput
from aetui.tui.widgets.spec_form import SpecForm


# launched from a run, the run is the model: no outside checkpoint file or model file
FROM_RUN_HIDDEN = ("checkpoint", "model")

class LaunchScreen(ModalScreen[list[int] | None]):
    """Dismisses with the ids of the queued jobs, or None when cancelled.

    Everything on it is built while it is composed, and the screen that opens it awaits
    the mount: keys typed right after the key that opened it (a burst over SSH) reach its
    fields in order, and ctrl+s reads exactly the values shown. (It used to load the spec
    types in a thread and build the form afterwards; keys that arrived meanwhile went
    nowhere, and ctrl+s then queued the defaults.)
    """

    # Priority bindings act in the order keys arrive. A plain binding acts only after the key
    # has gone to the focused widget and bubbled back, by which time the keys typed after it
    # have already gone to the field that was focused before: a Tab then `gauss` in one
    # burst would type into the wrong field.
    BINDINGS = [
        Binding("ctrl+s", "submit", "Queue it", priority=True),
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "next_field", "Next field", priority=True),
        Binding("shift+tab", "previous_field", "Previous field", priority=True, show=False),
        Binding("enter", "enter", "Next field", priority=True, show=False),
    ]
    AUTO_FOCUS = ".first-field, .first-form .field-input"

    class KeysApplied(Message):
        """Posted to each field on ctrl+s; back at the screen once that field has applied
        every key it was sent before the ctrl+s (each widget reads its messages in order)."""

        def __init__(self, token: int) -> None:
            super().__init__()
            self.token = token

    class Submitted(Message):
        def __init__(self, ids: list[int] | None, error: str | None = None) -> None:
            super().__init__()
            self.ids, self.error = ids, error

    def __init__(self, *, parent: JobRow | None = None, kind: str | None = None,
                 copy_from: JobRow | None = None) -> None:
        super().__init__()
        self.source_run, self.kind, self.copy_from = parent, kind, copy_from
        self.kinds: list[str] = []
        self.prefill: dict[str, Any] = {}
        self._types: dict[str, type] = {}
        self.busy = False
        self._submit_token = 0
        self._unapplied = 0  # fields that have not yet answered the newest ctrl+s

    @property
    def form(self) -> SpecForm | None:
        """The form of the kind chosen now."""
        forms = self.query(f"#launch-spec-{self.kind}") if self.kind else []
        return forms.first(SpecForm) if forms else None

    def compose(self) -> ComposeResult:
        if self.source_run is not None:
            title = f"Launch from #{self.source_run.id} {self.source_run.label}"
        elif self.copy_from is not None:
            title = f"New training job (from #{self.copy_from.id})"
        else:
            title = "New training job"
        forms, error = self._forms()
        with Vertical(id="launch", classes="dialog"):
            yield Static(title, classes="dialog-title", markup=False)
            from_run = self.source_run is not None and bool(forms)
            with Horizontal(id="launch-kind-row", classes="field"):
                yield Label("kind", classes="field-name")
                yield Select([(k, k) for k in self.kinds], value=self.kind if forms else Select.BLANK,
                             allow_blank=not forms, compact=True, id="launch-kind",
                             classes="field-input" + (" first-field" if from_run else ""))
            with Vertical(id="launch-form"):
                if error:
                    yield Static(error, classes="error", markup=False)
                for kind, form in forms.items():
                    form.display = kind == self.kind
                    if not from_run and kind == self.kind:
                        form.add_class("first-form")
                    yield form
            with Horizontal(classes="field"):
                yield Label("priority", classes="field-name")
                yield OrderedInput("0", type="integer", compact=True, id="launch-priority", classes="field-input")
                yield Label(" device", classes="field-name-short")
                yield OrderedInput("auto", compact=True, id="launch-device", classes="field-input")
            with Horizontal(classes="buttons"):
                yield Button("Queue (ctrl+s)", variant="primary", id="launch-submit", compact=True)
                yield Button("Cancel (esc)", id="launch-cancel", compact=True)
        yield FormFooter()

    def _forms(self) -> tuple[dict[str, SpecForm], str | None]:
        """The form of the kind chosen first (the others are built when chosen); or an
        error line."""
        from aetui.tui.forms import experiment_kinds, spec_type

        try:
            kinds = experiment_kinds() if self.source_run is not None else [self.kind or "train"]
            if self.copy_from is not None:
                from store.queries import get_job

                self.prefill = dict(get_job(self.app.home.db, self.copy_from.id).spec)
            self._types = {kind: spec_type(kind) for kind in kinds}
        except Exception as e:  # a broken spec module must not take the dashboard down
            return {}, f"cannot load the spec types: {e}"
        if not kinds:
            return {}, "no experiment kinds are registered yet (sweep, walk, probe)"
        self.kinds = kinds
        self.kind = kinds[0] if self.kind not in kinds else self.kind
        return {self.kind: self._new_form(self.kind)}, None

    def _new_form(self, kind: str) -> SpecForm:
        from aetui.tui.forms import form_fields, parent_field

        st = self._types[kind]
        values = dict(self.prefill) if kind == "train" else {}
        pf = parent_field(st)
        if pf and self.source_run is not None:
            values[pf] = self.source_run.id
        hide = FROM_RUN_HIDDEN if self.source_run is not None and kind != "train" else ()
        choices = self._model_choices() if self.source_run is not None and kind != "train" else None
        return SpecForm(form_fields(st, values, hide=hide, choices=choices), id=f"launch-spec-{kind}")

    def _model_choices(self) -> dict[str, tuple[Any, ...]] | None:
        """The walk modes and probe layers the run's model supports (None: offer all; the
        check when queued says what is wrong)."""
        from aetui import jobs
        from aetui.tui.forms import model_choices

        try:
            return model_choices(jobs.describe_job(self.app.home, self.source_run.id))
        except Exception:  # not a finished training run: queueing says so
            return None

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """Light up the name of the focused field (`-current`, see app.tcss; CSS's
        :focus-within is not re-applied to a row's name when focus moves on)."""
        for label in self.query("Label.-current"):
            label.remove_class("-current")
        parent = event.widget.parent
        if parent is None or not parent.has_class("field"):
            return
        siblings = list(parent.children)
        at = siblings.index(event.widget)
        if at > 0 and isinstance(siblings[at - 1], Label):
            siblings[at - 1].add_class("-current")

    def on_mount(self) -> None:
        self.query_one("#launch-kind-row").display = self.source_run is not None

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "launch-kind" and isinstance(event.value, str):
            await self._show(event.value)

    async def _show(self, kind: str) -> None:
        """Show the form of `kind` (built the first time), hiding the others."""
        if not self.query(f"#launch-spec-{kind}"):
            await self.query_one("#launch-form").mount(self._new_form(kind))
        self.kind = kind
        for form in self.query(SpecForm):
            form.display = form.id == f"launch-spec-{kind}"

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch-submit":
            self.action_submit()
        else:
            self.action_cancel()

    def action_next_field(self) -> None:
        self.focus_next()

    def action_previous_field(self) -> None:
        self.focus_previous()

    def action_enter(self) -> None:
        """Enter in a text field moves on to the next one: only ctrl+s (or the button)
        queues, with the whole form in view. Elsewhere (a choice, a button) Enter acts as
        usual."""
        if not isinstance(self.focused, Input):
            raise SkipAction()
        self.focus_next()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        """ctrl+s: queue what the form shows once every key typed before it has reached its
        field (keys typed in one burst may still be on their way to the fields)."""
        if self.busy or self.kind is None:
            return
        fields = list(self.query("Input, Select"))
        self._submit_token += 1
        self._unapplied = len(fields)
        for w in fields:
            w.post_message(self.KeysApplied(self._submit_token))

    async def on_launch_screen_keys_applied(self, message: KeysApplied) -> None:
        message.stop()
        if message.token != self._submit_token or not self._unapplied:
            return
        self._unapplied -= 1
        if not self._unapplied:
            await self._submit_shown()

    async def _submit_shown(self) -> None:
        if self.busy or self.kind is None:
            return
        if self.source_run is not None:
            chosen = self.query_one("#launch-kind", Select).value
            if isinstance(chosen, str) and chosen != self.kind:
                # the kind was changed and its form is not on screen yet: queue nothing unseen
                await self._show(chosen)
                self.notify(f"the {chosen} form is shown now: check it, then ctrl+s", severity="warning")
                return
        form = self.form
        if form is None:
            return
        try:
            spec = form.values()
            text = self.query_one("#launch-priority", Input).value.strip() or "0"
            try:
                priority = int(text)
            except ValueError:
                raise UserError(f"priority: {text!r} is not a whole number") from None
        except UserError as e:
            self.notify(str(e), severity="error")
            return
        device = self.query_one("#launch-device", Input).value.strip() or "auto"
        self.busy = True
        self._submit(self.kind, spec, priority, device)

    @work(thread=True, exclusive=True, group="launch-submit")
    def _submit(self, kind: str, spec: dict[str, Any], priority: int, device: str) -> None:
        from aetui import jobs

        try:
            if kind != "train" and self.source_run is not None:
                # what `aetui sweep/walk/probe RUN` does: the spec is checked against the
                # run's model, then queued with the run as its parent
                queued = [jobs.submit_experiment(self.app.home, kind, spec, str(self.source_run.id),
                                                 priority=priority, device=device)]
            else:
                queued = jobs.submit(self.app.home, kind, [spec], priority=priority, device=device,
                                     parent=self.source_run.id if self.source_run is not None else None)
        except UserError as e:
            self.post_message(self.Submitted(None, str(e)))
            return
        except Exception as e:
            self.post_message(self.Submitted(None, f"{type(e).__name__}: {e}"))
            return
        self.post_message(self.Submitted([j.id for j in queued]))

    def on_launch_screen_submitted(self, message: Submitted) -> None:
        self.busy = False
        if message.error:
            self.notify(message.error, severity="error", timeout=8)
            return
        self.dismiss(message.ids)

