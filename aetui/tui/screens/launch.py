"""The launch form: a sweep, walk or probe from a finished training run, or a new
training job. The form is generated from the kind's pydantic spec model, and the job
is queued with `aetui.jobs.submit`, as `aetui sweep/walk/probe/queue` do."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from aetui.errors import UserError
from aetui.tui.data.rows import JobRow
from aetui.tui.widgets.spec_form import SpecForm


class LaunchScreen(ModalScreen[list[int] | None]):
    """Dismisses with the ids of the queued jobs, or None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Queue it", priority=True),
    ]

    class Ready(Message):
        def __init__(self, kinds: list[str], values: dict[str, Any], error: str | None = None) -> None:
            super().__init__()
            self.kinds, self.values, self.error = kinds, values, error

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
        self.busy = False

    @property
    def form(self) -> SpecForm | None:
        forms = self.query(SpecForm)
        return forms.first() if forms else None

    def compose(self) -> ComposeResult:
        if self.source_run is not None:
            title = f"Launch from #{self.source_run.id} {self.source_run.label}"
        elif self.copy_from is not None:
            title = f"New training job (from #{self.copy_from.id})"
        else:
            title = "New training job"
        with Vertical(id="launch", classes="dialog"):
            yield Static(title, classes="dialog-title", markup=False)
            with Horizontal(id="launch-kind-row", classes="field"):
                yield Label("kind", classes="field-name")
                yield Select([], prompt="loading…", compact=True, id="launch-kind", classes="field-input")
            yield Vertical(id="launch-form")
            with Horizontal(classes="field"):
                yield Label("priority", classes="field-name")
                yield Input("0", type="integer", compact=True, id="launch-priority", classes="field-input")
                yield Label(" device", classes="field-name-short")
                yield Input("auto", compact=True, id="launch-device", classes="field-input")
            with Horizontal(classes="buttons"):
                yield Button("Queue (ctrl+s)", variant="primary", id="launch-submit", compact=True)
                yield Button("Cancel (esc)", id="launch-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#launch-kind-row").display = self.source_run is not None
        self._load()

    @work(thread=True, exclusive=True, group="launch-load")
    def _load(self) -> None:
        from aetui.tui.forms import experiment_kinds

        values: dict[str, Any] = {}
        try:
            kinds = experiment_kinds() if self.source_run is not None else [self.kind or "train"]
            if self.copy_from is not None:
                from store.queries import get_job

                values = dict(get_job(self.app.home.db, self.copy_from.id).spec)
        except Exception as e:  # a broken spec module must not take the dashboard down
            self.post_message(self.Ready([], {}, f"cannot load the spec types: {e}"))
            return
        self.post_message(self.Ready(kinds, values))

    async def on_launch_screen_ready(self, message: Ready) -> None:
        self.kinds, self.prefill = message.kinds, message.values
        if message.error or not message.kinds:
            text = message.error or "no experiment kinds are registered yet (sweep, walk, probe)"
            self.query_one("#launch-form").mount(Static(text, classes="error", markup=False))
            return
        select = self.query_one("#launch-kind", Select)
        select.set_options([(k, k) for k in message.kinds])
        select.value = message.kinds[0]
        await self._build_form(message.kinds[0])

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "launch-kind" and isinstance(event.value, str) and event.value != self.kind:
            await self._build_form(event.value)

    async def _build_form(self, kind: str) -> None:
        """Replace the form; serialised, since a kind change can arrive while one is built."""
        import asyncio

        lock = self.__dict__.setdefault("_form_lock", asyncio.Lock())
        async with lock:
            await self._replace_form(kind)

    async def _replace_form(self, kind: str) -> None:
        from aetui.tui.forms import form_fields, parent_field, spec_type

        self.kind = kind
        st = spec_type(kind)
        values = dict(self.prefill) if kind == "train" else {}
        pf = parent_field(st)
        if pf and self.source_run is not None:
            values[pf] = self.source_run.id
        container = self.query_one("#launch-form")
        await container.remove_children()
        # launched from a run, the run is the model: no outside checkpoint file
        hide = ("checkpoint",) if self.source_run is not None and kind != "train" else ()
        form = SpecForm(form_fields(st, values, hide=hide), id="launch-spec")
        await container.mount(form)
        self.call_after_refresh(self._focus_first)

    def _focus_first(self) -> None:
        if self.form is not None:
            inputs = self.form.query("Input, Select")
            if inputs:
                inputs.first().focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "launch-submit":
            self.action_submit()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_submit(self) -> None:
        form = self.form
        if form is None or self.busy or self.kind is None:
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
            submit_experiment = _experiment_submitter() if kind != "train" else None
            if submit_experiment is not None and self.source_run is not None:
                # what `aetui sweep/walk/probe RUN` does: the spec is checked against the
                # run's model, then queued with the run as its parent
                queued = [submit_experiment(self.app.home, kind, spec, str(self.source_run.id),
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


def _experiment_submitter():
    """`aetui.experiments.parent.submit_experiment` where the experiments provide it."""
    try:
        from aetui.experiments.parent import submit_experiment
    except ImportError:
        return None
    return submit_experiment
