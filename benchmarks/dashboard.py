"""Dashboard with 10,000 runs: first paint in a real terminal, and a live refresh.

Variants, each in fresh processes, in interleaved rounds (medians reported):

- aetui: `aetui --home H`, as a user types it. First paint: the process is started on a
  pseudo-terminal (120x40, TERM=xterm-256color) and timed until a job's row (its id and
  kind) is in what it wrote there, escape sequences stripped: process start, imports and
  Textual's first frames all count. Then, in a second process under `App.run_test()`,
  `AetuiApp(home)`: until the table holds rows and the frame after them was drawn
  (in-process paint), until the store is open (SQLAlchemy loaded off the UI thread), and
  the refresh: 5 running jobs report progress through the store, then the screen's
  refresh runs until their new step is on screen. The rows that refresh reads are counted:
  it must read only the rows changed since the last refresh. An idle refresh (nothing
  changed since) is timed too; it re-reads the rows changed within a short overlap before
  the newest change it saw (commits can land out of order), here the same 5.
- naive: the baseline a first version would write: one Textual `DataTable` filled with
  every job read through `store.queries.list_jobs` on mount, and a refresh that reads and
  redraws all of them; measured the same two ways.

    python benchmarks/dashboard.py [--jobs 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, paired_ratio, rounds, say, write_result  # noqa: E402

CHANGED = 5  # running jobs that report progress before the timed refresh
SIZE = (120, 40)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tiny", action="store_true", help="200 jobs, 1 round")
    p.add_argument("--out", help="folder for the JSON (default: $OUT, else benchmarks/results)")
    p.add_argument("--child", choices=("aetui", "naive"), help=argparse.SUPPRESS)
    p.add_argument("--home", help=argparse.SUPPRESS)
    p.add_argument("--serve-naive", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.serve_naive:  # the naive table as a user would run it, in a terminal
        naive_app(_home(Path(args.home))).run()
        return 0
    if args.child:
        result = asyncio.run(CHILDREN[args.child](Path(args.home)))
        print(json.dumps(result))
        return 0
    n, repeats = (200, 1) if args.tiny else (args.jobs, args.repeats)

    with tempfile.TemporaryDirectory(prefix="aetui-bench-") as tmp:
        home = Path(tmp) / "home"
        say(f"seeding {n} jobs")
        seed(home, n)
        results: dict[str, list[dict]] = {"aetui": [], "naive": []}

        def variant(name: str):
            def run() -> float:
                r = {"first_paint_s": terminal_paint(TERMINAL_COMMANDS[name](home))}
                r.update(child(name, home))
                results[name].append(r)
                return r["first_paint_s"]
            return run

        rounds({name: variant(name) for name in results}, repeats, log=say)

    def med(name: str, key: str) -> float | None:
        values = [r[key] for r in results[name] if r.get(key) is not None]
        return round(median(values), 4) if values else None

    keys = ("first_paint_s", "in_process_paint_s", "store_ready_s", "refresh_s", "idle_refresh_s", "imports_s",
            "refresh_rows_read", "idle_refresh_rows_read")
    figures = {name: {k: med(name, k) for k in keys} for name in results}
    a, b = results["aetui"], results["naive"]
    data = {
        "jobs": n, "repeats": repeats, "terminal": list(SIZE), "changed_rows": CHANGED, "figures": figures,
        # how many times faster aetui is than the naive table (per round, median over rounds)
        "speedup_vs_naive": {
            "first_paint": paired_ratio([x["first_paint_s"] for x in b], [x["first_paint_s"] for x in a]),
            "refresh": paired_ratio([x["refresh_s"] for x in b], [x["refresh_s"] for x in a]),
        },
        "refresh_reads_only_changed_rows": all(r["refresh_rows_read"] is not None
                                               and r["refresh_rows_read"] <= CHANGED for r in a),
        "samples": results,
    }
    path = write_result("dashboard", data, args.out, tiny=args.tiny)
    say(f"aetui {figures['aetui']}")
    say(f"naive {figures['naive']}")
    say(f"speed-up vs naive {data['speedup_vs_naive']}; refresh reads only changed rows: "
        f"{data['refresh_reads_only_changed_rows']}")
    say(f"wrote {path}")
    return 0


# a job's row as the tables draw it: its id, then its kind (the header reads "id▼ kind")
ROW = re.compile(rb"\b\d+ +train\b")
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-B]|\x1b[PX^_].*?\x1b\\|\x1b\][^\x07]*\x07")
TERMINAL_COMMANDS = {
    "aetui": lambda home: [sys.executable, "-m", "aetui", "--home", str(home)],
    "naive": lambda home: [sys.executable, __file__, "--serve-naive", "--home", str(home)],
}


def terminal_paint(command: list[str], timeout: float = 60.0) -> float:
    """Seconds from starting `command` on a pseudo-terminal until a job's row is on it."""
    t0 = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of SIZE, as over SSH in tmux
        os.environ.update(TERM="xterm-256color", COLUMNS=str(SIZE[0]), LINES=str(SIZE[1]))
        os.execv(command[0], command)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    screen, found = b"", None
    try:
        while found is None and time.perf_counter() - t0 < timeout:
            if select.select([fd], [], [], 0.05)[0]:
                try:
                    screen += os.read(fd, 1 << 16)
                except OSError:  # it exited
                    break
                if ROW.search(ANSI.sub(b"", screen)):
                    found = time.perf_counter() - t0
    finally:
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + 5
        while time.time() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
            time.sleep(0.05)
        else:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        os.close(fd)
    if found is None:
        raise RuntimeError(f"no job row on the terminal within {timeout:g} s: {command}\n{screen[-2000:]!r}")
    return found


def _home(path: Path):
    from aetui.home import Home

    return Home.resolve(path)


def child(name: str, home: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--home", str(home)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def seed(path: Path, n: int) -> None:
    """`n` training jobs with their runs, bulk-inserted; the newest CHANGED ones are running."""
    from sqlalchemy import insert

    from aetui.home import Home
    from store.engine import write
    from store.tables import Job, Run

    home = Home.resolve(path)
    statuses = ("done",) * 7 + ("failed", "cancelled", "queued")
    models = ("unet", "mlp", "attn-unet")
    t0 = time.time() - 3600 - n  # an hour old and more: a refresh reads only what changes now
    jobs, runs = [], []
    for k in range(1, n + 1):
        status = "running" if k > n - CHANGED else statuses[k % len(statuses)]
        model = models[k % 3]
        jobs.append(dict(id=k, kind="train", status=status, label=f"{model} res32 builtin #{k}",
                         spec={"kind": "train", "model": model, "res": 32, "data": "builtin", "steps": 2000},
                         priority=0, device="auto", assigned_device="cpu" if status != "queued" else None,
                         created_at=t0 + k, updated_at=t0 + k, step=2000 if status == "done" else 100,
                         total_steps=2000, loss=0.01, cancel_requested=False))
        runs.append(dict(id=k, run_dir=str(home.run_dir(k)), metrics={}, artifacts={}, results={}, versions={}))
    with write(home.db) as s:
        s.execute(insert(Job), jobs)
        s.execute(insert(Run), runs)
    home.db.dispose()


def bump(home, step: int) -> list[int]:
    """The running jobs report progress: step `step` (what a worker's job writes)."""
    from store import queries
    from store.queue import progress

    ids = [j.id for j in queries.list_jobs(home.db, status="running")]
    for job_id in ids:
        progress(home.db, job_id=job_id, step=step, total_steps=2000)
    return ids


async def until(pilot, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the dashboard did not get there in time")
        await pilot.pause(0.002)


async def until_drawn(app, condition, timeout: float = 120.0) -> None:
    """Until `condition` holds and the frame after it was drawn. Not `pilot.pause()`: that
    also waits for the process to go idle, i.e. for the store's import in its thread."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the dashboard did not get there in time")
        await asyncio.sleep(0.002)
    drawn = asyncio.Event()
    app.call_after_refresh(drawn.set)
    await asyncio.wait_for(drawn.wait(), timeout)


async def run_aetui(path: Path) -> dict:
    t_imports = time.perf_counter()
    from aetui.home import Home
    from aetui.tui.app import AetuiApp
    from aetui.tui.data import window

    imports_s = time.perf_counter() - t_imports
    read: list[int] = []
    original = window.fetch_changes

    def counting(db, query, since):  # the screen's refresh reads through this function
        changes = original(db, query, since)
        read.append(len(changes.rows))
        return changes

    window.fetch_changes = counting
    home = Home.resolve(path)
    # no timer-driven polls: the benchmark asks for each refresh itself
    app = AetuiApp(home, graphics="halfblock", poll_s=3600.0, devices_sampler=lambda h: None)
    out: dict = {"imports_s": imports_s}
    t0 = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await until_drawn(app, lambda: screen.table.loaded and screen.table.total > 0)
        out["in_process_paint_s"] = time.perf_counter() - t0
        await until(pilot, lambda: screen.seen is not None and not screen._polling)
        await app.workers.wait_for_complete()
        out["store_ready_s"] = time.perf_counter() - t0

        async def refresh(step: int | None) -> float:
            read.clear()
            ids = bump(home, step) if step is not None else []
            t = time.perf_counter()
            screen.refresh_now()
            if step is not None:
                await until(pilot, lambda: all(_shown_step(screen.table, i) == step for i in ids))
            await until(pilot, lambda: bool(read) and not screen._polling)
            await pilot.pause()
            return time.perf_counter() - t

        out["refresh_s"] = await refresh(555)
        out["refresh_rows_read"] = sum(read)
        out["idle_refresh_s"] = await refresh(None)
        out["idle_refresh_rows_read"] = sum(read)
    home.db.dispose()
    return out


def _shown_step(table, job_id: int) -> int | None:
    for i in range(min(table.total, 100)):
        row = table.row_at(i)
        if row is not None and row.id == job_id:
            return row.step
    return None


def naive_app(home):
    from textual.app import App
    from textual.widgets import DataTable

    class NaiveApp(App[None]):
        loaded = 0

        def compose(self):
            yield DataTable()

        def on_mount(self) -> None:
            self.query_one(DataTable).add_columns("id", "kind", "status", "what", "progress", "loss", "device")
            self.load()

        def load(self) -> None:
            from store import queries

            table = self.query_one(DataTable)
            table.clear()
            table.add_rows([(j.id, j.kind, j.status, j.label, f"{j.step}/{j.total_steps}", j.loss,
                             j.assigned_device or j.device) for j in queries.list_jobs(home.db)])
            self.loaded += 1

    return NaiveApp()


async def run_naive(path: Path) -> dict:
    t_imports = time.perf_counter()
    import textual.app  # noqa: F401
    from textual.widgets import DataTable

    from aetui.home import Home

    imports_s = time.perf_counter() - t_imports
    home = Home.resolve(path)
    app = naive_app(home)
    out: dict = {"imports_s": imports_s}
    t0 = time.perf_counter()
    async with app.run_test(size=SIZE) as pilot:
        await until_drawn(app, lambda: app.loaded >= 1)
        out["in_process_paint_s"] = time.perf_counter() - t0
        out["store_ready_s"] = out["in_process_paint_s"]
        for key, step in (("refresh_s", 555), ("idle_refresh_s", None)):
            if step is not None:
                bump(home, step)
            t = time.perf_counter()
            app.load()
            await pilot.pause()
            out[key] = time.perf_counter() - t
        out["refresh_rows_read"] = out["idle_refresh_rows_read"] = app.query_one(DataTable).row_count
    home.db.dispose()
    return out


CHILDREN = {"aetui": run_aetui, "naive": run_naive}

if __name__ == "__main__":
    sys.exit(main())
