"""How each job status looks, for the CLI and the dashboard alike: one table.

A status has a Rich colour (the CLI's tables and the run screen's Rich text), the Textual
theme variable the dashboard's job table colours it with (so the table follows the
theme), and whether that table shows it bold. The job table's CSS rules are generated
from the table (`job_table_css`, the app's stylesheet adds them).

Light (only `store.states`), so `aetui runs` imports it without SQLModel or Textual.
"""

from __future__ import annotations

from dataclasses import dataclass

from store.states import JobStatus


@dataclass(frozen=True)
class Look:
    colour: str  # a Rich colour
    theme: str  # a Textual theme variable, without the "$"
    bold: bool = False  # in the job table: what needs a look stands out


LOOKS: dict[str, Look] = {
    JobStatus.QUEUED: Look("yellow", "warning"),
    JobStatus.RUNNING: Look("cyan", "accent", bold=True),
    JobStatus.DONE: Look("green", "success"),
    JobStatus.FAILED: Look("red", "error", bold=True),
    JobStatus.CANCELLED: Look("grey50", "text-muted"),
}


def colour(status: str) -> str:
    """The Rich colour of a job status, or of the attempt outcome spelled the same;
    "" for any other (an attempt requeued or lost)."""
    look = LOOKS.get(status)
    return look.colour if look is not None else ""


def table_class(status: str) -> str:
    """The job table's component class of a status."""
    return f"job-table--{status}"


def job_table_css() -> str:
    """The job table's status rules, e.g. `JobTable > .job-table--running { color: $accent;
    text-style: bold; }`."""
    return "\n".join(f"JobTable > .{table_class(s)} {{ color: ${look.theme};"
                     + (" text-style: bold;" if look.bold else "") + " }" for s, look in LOOKS.items())
