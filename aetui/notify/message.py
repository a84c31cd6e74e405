"""What a notification says, and the environment a notify command gets.

The values go to a command in its environment (`AETUI_JOB_ID`, `AETUI_STATUS`, ...), never
into its text: a label or an error with quotes or `$(...)` in it cannot break or inject
into the command."""

from __future__ import annotations

from dataclasses import dataclass, field

from aetui.durations import duration
from store.states import NoticeEvent


TEST_EVENT = "test"  # `aetui notify test`


@dataclass(frozen=True)
class Message:
    event: str  # done, failed, cancelled, stalled, group (or test)
    status: str  # the job's ending; for a group the worst of its jobs' (failed > cancelled > done)
    job_id: int
    label: str = ""
    error: str | None = None
    run_dir: str = ""
    duration_s: float | None = None
    job_ids: list[int] = field(default_factory=list)  # a group's jobs
    counts: dict[str, int] = field(default_factory=dict)  # a group's jobs by status

    @property
    def title(self) -> str:
        if self.event == NoticeEvent.GROUP:
            return f"aetui: jobs {self.job_ids[0]}-{self.job_ids[-1]} ended ({self.status})"
        if self.event == TEST_EVENT:
            return "aetui: test notification"
        return f"aetui: job {self.job_id} {self.event}"

    @property
    def body(self) -> str:
        took = f" after {duration(self.duration_s)}" if self.duration_s is not None else ""
        if self.event == NoticeEvent.GROUP:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()))
            text = f"{len(self.job_ids)} jobs{self._label} ended{took}: {counts}"
        elif self.event == TEST_EVENT:
            text = "aetui can reach you here."
        else:
            text = f"job {self.job_id}{self._label} {self.event}{took}"
        if self.error and self.error.strip():
            text += "\n" + self.error.strip().splitlines()[0][:300]
        return text

    @property
    def _label(self) -> str:
        return f" ({self.label})" if self.label else ""

    def env(self) -> dict[str, str]:
        """The command's variables (all strings; empty when unknown)."""
        return {
            "AETUI_JOB_ID": str(self.job_id),
            "AETUI_STATUS": self.status if self.event in (NoticeEvent.GROUP, TEST_EVENT) else self.event,
            "AETUI_EVENT": self.event,
            "AETUI_LABEL": self.label,
            "AETUI_RUN_DIR": self.run_dir,
            "AETUI_ERROR": self.error or "",
            "AETUI_DURATION": "" if self.duration_s is None else f"{self.duration_s:.0f}",
            "AETUI_JOB_IDS": " ".join(map(str, self.job_ids or [self.job_id])),
            "AETUI_TITLE": self.title,
            "AETUI_MESSAGE": self.body,
        }
