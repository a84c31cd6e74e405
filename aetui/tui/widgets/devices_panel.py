"""The devices strip under the runs table: each GPU (or the CPU) with its use, memory
and the jobs on it, then the workers of this home and whether the queue is paused."""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from aetui.tui import format as fmt
from aetui.tui.data.devices import DevicesReport, DeviceStat


def _meter(fraction: float | None, width: int) -> Text:
    if fraction is None:
        return Text("n/a".ljust(width + 5), style="dim")
    style = "green" if fraction < 0.6 else ("yellow" if fraction < 0.9 else "red")
    out = Text(fmt.bar(fraction, width), style=style)
    out.append(f"{fraction * 100:4.0f}%", style="bold")
    return out


def device_line(d: DeviceStat, width: int, labels: dict[int, str]) -> Text:
    line = Text()
    line.append(fmt.fit(d.name, 7), style="bold")
    wide = width >= 110
    if wide:
        line.append(fmt.fit(d.model, 24) + " ", style="dim")
    meter_w = 10 if wide else 5
    line.append("load " if d.name == "cpu" else "util ", style="dim")
    line.append_text(_meter(d.util, meter_w))
    line.append("  mem ", style="dim")
    mem = d.mem_used / d.mem_total if d.mem_used is not None and d.mem_total else None
    line.append_text(_meter(mem, meter_w))
    if d.mem_total:
        line.append(f" {fmt.size(d.mem_used)}/{fmt.size(d.mem_total)}", style="dim")
    if d.temperature is not None and wide:
        line.append(f"  {d.temperature}°C", style="dim")
    line.append("  ")
    if d.jobs:
        for n, job in enumerate(d.jobs):
            line.append(("" if n == 0 else ", ") + f"#{job}", style="bold cyan")
            if wide or len(d.jobs) == 1:
                line.append(f" {labels.get(job, '')}", style="cyan")
    else:
        line.append("idle", style="dim")
    line.truncate(width, overflow="ellipsis")
    return line


class DevicesPanel(Widget):
    """Renders the `report` it is given; knows nothing of where it came from."""


    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.report: DevicesReport | None = None

    def update(self, report: DevicesReport) -> None:
        if report != self.report:
            self.report = report
            self.refresh(layout=True)

    def render(self) -> Text:
        width = self.content_region.width or 80
        r = self.report
        if r is None:
            return Text("devices: looking…", style="dim")
        lines = [device_line(d, width, r.running_labels) for d in r.devices]
        status = Text()
        if r.paused:  # first: the line is cut at the right on a narrow terminal
            status.append("queue paused", style="bold red")
            status.append(" (P resumes) · ", style="dim")
        if r.workers:
            pids = ", ".join(str(w.get("pid")) for w in r.workers)
            status.append("worker ", style="dim")
            status.append("running", style="bold green")
            status.append(f" (pid {pids})", style="dim")
        else:
            status.append("no worker running", style="bold yellow")
            status.append(" · w starts one in the background", style="dim")
        status.truncate(width, overflow="ellipsis")
        lines.append(status)
        return Text("\n").join(lines)

    def get_content_height(self, container, viewport, width: int) -> int:
        return (len(self.report.devices) if self.report else 0) + 1
