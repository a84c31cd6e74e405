"""A text input that applies its editing keys in the order they arrive.

Textual runs a widget's key bindings (backspace, ctrl+u, home, end, ...) only after the
key has bubbled back up to the app, whereas a printable key is inserted as soon as the
input reads it. Keys that arrive together (typing over SSH, a paste of keystrokes) are
then applied out of order: `ctrl+u gauss` clears the field after `gauss` was typed. This
input runs its own bindings when it reads the key, so the field ends up as typed.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class OrderedInput(Input):
    async def _on_key(self, event: events.Key) -> None:
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if binding.priority:
                continue
            if await self.app.run_action(binding.action, self):
                event.stop()
                event.prevent_default()
                return
        await super()._on_key(event)
