"""Human output of the CLI: tables and panels drawn with rich."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

from aetui.durations import duration as fmt_duration
from aetui.run_summary import summary_first, usage_line
from aetui.status_style import colour
from store.states import JobStatus, shown_phase, shown_status


def fmt_progress(step: int, total: int, phase: str | None = None) -> str:
    """`120/2000`, or what a running job does before its first step (`preparing data 300/2048`)."""
    if phase:
        return phase
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
    from aetui.settings_diff import shown_labels

    now = time.time()
    labels = shown_labels(jobs)  # jobs that share a label say how they differ
    rows = []
    for j in jobs:
        last_line = getattr(j, "last_line", None)
        rows.append({
            "id": str(j.id), "kind": j.kind, "status": shown_status(j.status, bool(j.cancel_requested)),
            "what": labels[j.id],
            "progress": (last_line or "")[:40] if j.kind == "command"
            else fmt_progress(j.step, j.total_steps, shown_phase(j.status, j.kind, last_line)),
            "loss": fmt_float(j.loss),
            "img/s": fmt_float(j.images_per_s, 3), "eta": fmt_duration(j.eta_s) if j.status == JobStatus.RUNNING else "",
            "device": j.assigned_device or j.device, "age": fmt_duration(now - j.created_at),
        })
    # a status (`stopping…`) and a phase (`preparing data 300/2048`) are read whole: the label gives way
    whole = {c: max(len(c), *(len(r[c]) for r in rows)) for c in ("status", "progress")}
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in cols:
        table.add_column(col, justify="right" if col in ("id", "loss", "img/s") else "left",
                         no_wrap=True, overflow="ellipsis", min_width=None if col == "what" else whole.get(col, len(col)),
                         max_width=max(12, console.width - (52 if narrow else 78) - max(0, whole["status"] - 9)
                                       - max(0, whole["progress"] - 12)) if col == "what" else None)
    for j, cells in zip(jobs, rows):
        cells = {**cells, "status": f"[{colour(j.status)}]{cells['status']}"}
        table.add_row(*(cells[c] for c in cols))
    console.print(table)


def job_panel(d: dict[str, Any]) -> None:
    console = Console()
    status = shown_status(d["status"], bool(d.get("stopping")))
    console.print(f"[bold]job {d['id']}[/] {d['kind']} [{colour(d['status'])}]{status}[/]  {d['label']}")
    progress = fmt_progress(d["step"], d["total_steps"])
    phase = shown_phase(d["status"], d["kind"], d.get("last_line"))
    if phase:
        progress = f"{progress}  ({phase})" if progress else phase
    rows = [("progress", progress), ("device", d["device"]),
            ("run dir", d["run_dir"]), ("created", d["created_at"]), ("started", d["started_at"]),
            ("ended", d["ended_at"]), ("error", d["error"]), ("parent", d["parent_id"]),
            ("tags", " ".join(d.get("tags") or [])), ("note", d.get("note")), ("usage", usage_line(d.get("usage")))]
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
        width = max(15, *(len(k) for k in d["metrics"]))
        for key, value in summary_first(d["metrics"]):
            console.print(f"  {key:<{width}} {fmt_float(value, 5) if isinstance(value, float) else value}")
    shown = results_view(d)
    if shown is not None:
        console.print("[bold]results[/]")
        console.print(shown)
    if d["attempts"]:
        console.print("[bold]attempts[/]")
        for a in d["attempts"]:
            console.print(f"  #{a['number']} from step {a['start_step']} to {a['end_step']}: {a['outcome']}"
                          f" on {a['device']} ({a['worker']})" + (f" - {a['error']}" if a["error"] else ""))
    console.print("[bold]spec[/]")
    width = max(15, *(len(k) for k in d["spec"]))
    for key, value in d["spec"].items():
        console.print(f"  {key:<{width}} {value}")
    if d.get("requeue_command"):
        console.print(f"[bold]again[/] {d['requeue_command']}")


def print_results(detail: dict[str, Any]) -> None:
    """A finished experiment's numbers, for people (the sweep table, walk or probe summary),
    and where its files are."""
    console = Console()
    shown = results_view(detail)
    if shown is not None:
        console.print(shown)
    if detail.get("run_dir"):
        console.print(f"files: {detail['run_dir']}   (TensorBoard: `aetui tb`)")


def results_view(detail: dict[str, Any]):
    """An experiment's results as something rich prints, or None when it has none yet."""
    results = detail.get("results") or {}
    kind = detail["kind"]
    if kind == "sweep" and results.get("points"):
        return sweep_table(results)
    if kind == "walk" and results.get("step_size"):
        return walk_summary(results)
    if kind == "probe" and "trained_mse" in results:
        return probe_summary(results)
    return None


def sweep_table(results: dict[str, Any]):
    """A rich table of a sweep's points: one row per level (fits 80 columns)."""
    control = "control_output_mse" in results["points"][0]
    table = Table(title=f"{results.get('noise')}  bn={results.get('bn')}  {results.get('images')} held-out images",
                  header_style="bold", box=None, collapse_padding=True, pad_edge=False)
    cols = ["level", "in mse", "out mse", "ratio", "psnr in", "psnr out", "copy mse"]
    cols += ["ctrl out", "ctrl ratio"] if control else []
    for col in cols:
        table.add_column(col, justify="right", no_wrap=True)
    for p in results["points"]:
        row = [_f(p["level"]), _f(p["input_mse"]), _f(p["output_mse"]), _f(p["ratio"]),
               _f(p["psnr_in"]), _f(p["psnr_out"]), _f(p["copy_mse"])]
        if control:
            row += [_f(p["control_output_mse"]), _f(p["control_ratio"])]
        table.add_row(*row)
    return table


def walk_summary(r: dict[str, Any]) -> str:
    return (f"walk {r['mode']}: {r['steps']} steps x {r['chains']} chains, {r['frame_count']} frames; "
            f"final step size {_f(r['final_step_size'])} (threshold {_f(r['move_threshold'])}), "
            f"{r['moving_chains']}/{r['chains']} chains still moving")


def probe_summary(r: dict[str, Any]) -> str:
    return (f"probe {r['layer']} {tuple(r['layer_shape'])}, {r['iters']} iters: mean squared distance to the "
            f"input: trained {_f(r['trained_mse'])}, untrained {_f(r['untrained_mse'])} (start {_f(r['start_mse'])})")


def _f(v: float | None, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}g}"
