"""Messages that more than one screen handles. Screen-specific ones live with their
screen; widget-specific ones are nested in their widget class (Textual's convention)."""

from __future__ import annotations

from textual.message import Message


class OpDone(Message):
    """A queue operation (cancel, retry, priority, delete, submit, worker) finished.

    `error` holds the one-line `UserError` text when the store refused it.
    """

    def __init__(self, op: str, job_id: int | None, text: str, *, error: bool = False) -> None:
        super().__init__()
        self.op, self.job_id, self.text, self.error = op, job_id, text, error
