"""The rows the runs table holds: one window of the matching jobs, and what to fetch next.

The table never holds all jobs. It keeps the rows of the last window it was handed
(`put`), patches single rows in place (`replace`), and asks `wanted` which window to
fetch when the rows in view (or the cursor's row) are missing. A request already on
its way is not asked for again until it arrives or is forgotten (`forget_pending`).
No Textual here: the table (`aetui.tui.widgets.job_table`) draws, this remembers.
"""

from __future__ import annotations

from aetui.tui.data.rows import JobRow


class WindowCache:
    def __init__(self) -> None:
        self._rows: dict[int, JobRow] = {}  # row index (under the query) -> row
        self._index: dict[int, int] = {}  # job id -> row index
        self._pending: tuple[int, int] | None = None  # (offset, limit) asked for, not yet here
        self._labels: dict[int, str] | None = None  # job id -> label shown, worked out when drawn

    def __len__(self) -> int:
        return len(self._rows)

    def put(self, offset: int, rows: list[JobRow]) -> None:
        """Hold `rows` (the window at `offset`) instead of the previous window."""
        self._rows = {offset + i: r for i, r in enumerate(rows)}
        self._index = {r.id: offset + i for i, r in enumerate(rows)}
        self._pending = None
        self._labels = None

    def replace(self, row: JobRow) -> int | None:
        """Put `row` in place of the held row with its id: its index, or None if not held."""
        index = self._index.get(row.id)
        if index is not None:
            self._rows[index] = row
            self._labels = None
        return index

    def label(self, row: JobRow) -> str:
        """The label a held row shows: with the settings that tell it apart from the held
        rows of its kind that share its label (`aetui.settings_diff.shown_labels`)."""
        if self._labels is None:
            from aetui.settings_diff import shown_labels

            self._labels = shown_labels(self._rows.values())
        return self._labels.get(row.id, row.label)

    def get(self, index: int) -> JobRow | None:
        return self._rows.get(index)

    def index_of(self, job_id: int) -> int | None:
        return self._index.get(job_id)

    def ids(self) -> set[int]:
        return set(self._index)

    def max_id(self) -> int:
        return max(self._index, default=0)

    def wanted(self, top: int, height: int, cursor: int, total: int) -> tuple[int, int] | None:
        """The (offset, limit) to fetch so the `height` rows from `top` and the cursor's row
        are held, or None when they are, or when that very window is already on its way.
        The window reaches a screen above and below what is needed (fewer fetches while
        scrolling); asking marks it pending."""
        need = range(top, min(total, top + height))
        need_cursor = cursor < total and cursor not in self._rows
        if all(i in self._rows for i in need) and not need_cursor:
            return None
        anchor = cursor if need_cursor else top
        offset = max(0, anchor - height)
        limit = height * 3 + 10
        if self._pending == (offset, limit):
            return None
        self._pending = (offset, limit)
        return offset, limit

    def forget_pending(self) -> None:
        """The asked-for window will not come: let `wanted` ask for it again."""
        self._pending = None
