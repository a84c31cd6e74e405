"""Human output of the CLI: tables and panels drawn with rich."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

STATUS_STYLE = {"queued": "yellow", "running": "cyan", "done": "green", "failed": "red", "cancelled": "dim"}


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def fmt_progress(step: int, total: int) -> str:
    return f"{step}/{total}" if total else (str(step) if step else "")


def fmt_float(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


def jobs_table(jobs: list[Any]) -> None:
    console = Console()
    if not jobs:
        console.print("no jobs yet: queue one with `aetui queue unet --res 64`")
        return
    narrow = console.width < 110
    cols = ["id", "kind", "status", "what", "progress", "loss", "img/s", "eta", "device", "age"]
    if narrow:
        cols = [c for c in cols if c not in ("eta", "age", "img/s")]
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in cols:
        table.add_column(col, justify="right" if col in ("id", "loss", "img/s") else "left",
                         no_wrap=True, overflow="ellipsis", min_width=None if col == "what" else len(col),
                         max_width=max(12, console.width - (52 if narrow else 78)) if col == "what" else None)
    now = time.time()
    for j in jobs:
        cells = {
            "id": str(j.id), "kind": j.kind, "status": f"[{STATUS_STYLE.get(j.status, '')}]{j.status}",
            "what": j.label, "progress": fmt_progress(j.step, j.total_steps), "loss": fmt_float(j.loss),
            "img/s": fmt_float(j.images_per_s, 3), "eta": fmt_duration(j.eta_s) if j.status == "running" else "",
            "device": j.assigned_device or j.device, "age": fmt_duration(now - j.created_at),
        }
        table.add_row(*(cells[c] for c in cols))
    console.print(table)


def job_panel(d: dict[str, Any]) -> None:
    console = Console()
    console.print(f"[bold]job {d['id']}[/] {d['kind']} [{STATUS_STYLE.get(d['status'], '')}]{d['status']}[/]  {d['label']}")
    rows = [("progress", fmt_progress(d["step"], d["total_steps"])), ("device", d["device"]),
            ("run dir", d["run_dir"]), ("created", d["created_at"]), ("started", d["started_at"]),
            ("ended", d["ended_at"]), ("error", d["error"]), ("parent", d["parent_id"])]
    if d.get("slurm"):
        sl = d["slurm"]
        rows.append(("slurm", f"job {sl.get('job_id')} {sl.get('state', '')}"
                              + (f" on {sl['node']}" if sl.get("node") else "")
                              + (f", {sl['restarts']} restarts" if sl.get("restarts") else "")
                              + (f"; log {sl['stdout']}" if sl.get("stdout") else "")))
    for key, value in rows:
        if value not in (None, ""):
            console.print(f"  {key:<9} {value}")
    if d["metrics"]:
        console.print("[bold]metrics[/]")
        for key, value in d["metrics"].items():
            console.print(f"  {key:<15} {fmt_float(value, 5) if isinstance(value, float) else value}")
    if d["attempts"]:
        console.print("[bold]attempts[/]")
        for a in d["attempts"]:
            console.print(f"  #{a['number']} from step {a['start_step']} to {a['end_step']}: {a['outcome']}"
                          f" on {a['device']} ({a['worker']})" + (f" - {a['error']}" if a["error"] else ""))
    console.print("[bold]spec[/]")
    for key, value in d["spec"].items():
        console.print(f"  {key:<15} {value}")
    if d.get("requeue_command"):
        console.print(f"[bold]again[/] {d['requeue_command']}")
