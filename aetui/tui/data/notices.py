"""Job endings for the dashboard's toasts: the store's outbox (`store.outbox`), read from
the newest notice on at start, so every ending is shown once, whatever the table's filter."""

from __future__ import annotations

from aetui.home import Home
from store.states import NoticeEvent


class NoticeReader:
    def __init__(self, home: Home) -> None:
        self.home = home
        self.last: int | None = None  # the newest notice seen; None until the first look

    def new(self) -> list[tuple[str, bool]]:
        """(a line, whether it went wrong) per ending since the last call (none on the
        first: those ended before the dashboard opened)."""
        from store import outbox
        from store.sqlite_read import sqlite_path

        file = sqlite_path(self.home.db_url)
        if file is not None and not file.is_file():  # no store yet: the main screen makes it
            return []
        if self.last is None:
            self.last = outbox.newest_id(self.home.db)
            return []
        notices = outbox.since(self.home.db, self.last)
        if notices:
            self.last = notices[-1].id
        return [(line(n), n.event not in (NoticeEvent.DONE, NoticeEvent.CANCELLED))
                for n in notices if n.event != NoticeEvent.GROUP]


def line(notice) -> str:
    label = f" ({notice.label})" if notice.label else ""
    error = f": {notice.error.splitlines()[0][:120]}" if notice.error and notice.error.strip() else ""
    return f"job {notice.job_id}{label} {notice.event}{error}"
