"""The line above the runs table: jobs per status (the chosen filter highlighted),
the text filter and the sort, so what the table shows is always spelled out."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget

from aetui.tui.data.window import FILTER_STATUSES, JobQuery
from store.states import JobStatus

SORT_NAMES = {"images_per_s": "img/s", "eta": "ETA", "priority": "pri"}


class StatusTabs(Widget):

    class Chosen(Message):
        def __init__(self, status: str | None) -> None:
            super().__init__()
            self.status = status

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.counts: dict[str, int] = {}
        self.job_query = JobQuery()
        self.marked = 0
        self._spans: list[tuple[int, int, str | None]] = []

    def update(self, *, counts: dict[str, int] | None = None, query: JobQuery | None = None,
               marked: int | None = None) -> None:
        if counts is not None:
            self.counts = counts
        if query is not None:
            self.job_query = query
        if marked is not None:
            self.marked = marked
        self.refresh()

    def render(self) -> Text:
        width = self.content_region.width or 80
        compact = width < 100
        out = Text()
        self._spans = []
        for status in FILTER_STATUSES:
            n = sum(self.counts.values()) if status is None else self.counts.get(status, 0)
            name = status or "all"
            if compact and status == JobStatus.CANCELLED:
                name = "cancel"
            piece = f" {name} {n} "
            style = "reverse bold" if status == self.job_query.status else ("dim" if n == 0 else "")
            start = len(out)
            out.append(piece, style=style)
            self._spans.append((start, len(out), status))
        extras = []
        if self.job_query.text.strip():
            extras.append(("/", f"{self.job_query.text.strip()}", "bold yellow"))
        if self.marked:
            extras.append(("", f"{self.marked} marked", "bold magenta"))
        for prefix, text, style in extras:
            out.append(" ")
            out.append(prefix + text, style=style)
        out.truncate(width, overflow="ellipsis")
        return out

    def on_click(self, event: events.Click) -> None:
        for start, end, status in self._spans:
            if start <= event.x < end:
                self.post_message(self.Chosen(status))
                return
