"""`aetui report`: the settings, numbers, curves and pictures of jobs in one file to send."""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

from typing import Annotated, Optional

import typer

from aetui.cli import completers
from aetui.cli.options import HomeOpt, JsonOpt, check_job_id, home_of, print_json, user_errors

Opt = typer.Option


def register(app: typer.Typer) -> None:
    app.command(name="report")(user_errors(report))


def report(
    job_ids: Annotated[list[int], typer.Argument(help="job ids (see `aetui runs`); several of one kind are also compared", show_default=False, autocompletion=completers.job_ids)],
    out: Annotated[Optional[str], Opt("--out", "-o", help="the file to write [default: report-<ids>.html here]", show_default=False)] = None,
    format: Annotated[Optional[str], Opt("--format", help="html (one self-contained file) or md (Markdown and a <name>_files/ folder of pictures) [default: from --out's suffix, else html]", show_default=False, autocompletion=lambda: ["html", "md"])] = None,
    json: JsonOpt = False,
    home: HomeOpt = None,
) -> None:
    """Write a report of jobs: settings, results, curves and pictures, ready to send.

    HTML is one file that opens anywhere, offline (pictures inside it); `--format md` writes
    Markdown with a folder of pictures, for a repository or a paper's notes.

    Examples: `aetui report 3 --out run3.html` · `aetui report 3 4 5 --out lr-grid.html` ·
    `aetui report 7 --format md --out notes/sweep.md`
    """
    from pathlib import Path

    from aetui.report import format_of, write_report

    ids = [check_job_id(i) for i in job_ids]
    target = Path(out) if out else Path(f"report-{'-'.join(map(str, ids[:6]))}.{format or 'html'}")
    fmt = format_of(target, format)
    h = home_of(home, needs=f"no job {ids[0]}", write=False)
    path = write_report(h, ids, target, fmt=fmt)
    if json:
        print_json({"path": str(path), "format": fmt, "jobs": list(dict.fromkeys(ids))})
        return
    typer.echo(f"report of {len(ids)} job{'s' if len(ids) != 1 else ''} written to {path}")
