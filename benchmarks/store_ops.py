"""Store throughput: enqueue N jobs, claim them with 8 worker processes, list them (ops/s).

Each phase runs aetui's own store functions (`store.queue.enqueue_many`,
`store.queue.claim`, `store.queries.list_jobs`, and the light reader behind `aetui runs`)
and, in the same invocation, a baseline doing the same work in plain `sqlite3`
statements on a copy of the same database: the ratio is what the ORM and aetui's
bookkeeping cost over the bare minimum.

- enqueue: one job a transaction (what each `aetui queue` does), plus one grid of
  `--grid` jobs in one call.
- claim: 8 processes (`--workers`) claim until the queue is empty; every job must be
  claimed exactly once (checked). Process start-up is not timed: all start together.
- list: every job, newest first; and the first 50 (what `aetui runs` shows).

    python benchmarks/store_ops.py [--jobs 10000] [--workers 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, ratio, say, write_result  # noqa: E402

SPEC = {"kind": "train", "model": "unet", "res": 32, "options": {"base_width": 16, "depth": 3, "skips": False,
        "bottleneck": None}, "data": "builtin", "steps": 2000, "batch_size": 32, "lr": 1e-4, "seed": 0}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--grid", type=int, default=1000, help="jobs in the one-call grid enqueue")
    p.add_argument("--repeats", type=int, default=3, help="rounds of the list phase")
    p.add_argument("--tiny", action="store_true", help="200 jobs, 4 workers")
    p.add_argument("--out", help="folder for the JSON (default: $OUT, else benchmarks/results)")
    args = p.parse_args(argv)
    n, workers, grid = (200, 4, 50) if args.tiny else (args.jobs, args.workers, args.grid)

    from aetui.home import Home
    from store import queries
    from store.queue import enqueue_many
    from store.sqlite_read import list_jobs as light_list

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aetui-bench-") as tmp:
        home = Home.resolve(Path(tmp) / "home")
        db, url = home.db, str(home.db_url)
        row = {"kind": "train", "spec": SPEC, "label": "unet res32 builtin", "total_steps": 2000}

        say(f"enqueue {n} jobs, one a transaction")
        t0 = time.perf_counter()
        for _ in range(n):
            enqueue_many(db, [row], run_root=str(home.runs))
        enqueue_s = time.perf_counter() - t0
        raw_db = Path(tmp) / "raw.db"
        copy_db(url, raw_db)
        # the baseline enqueues into the copy as many again, then claims and lists the copy
        raw_enqueue_s = raw_enqueue(raw_db, n)
        raw_claim_db = Path(tmp) / "raw-claim.db"
        copy_db(url, raw_claim_db)

        say(f"enqueue a grid of {grid} jobs in one call")
        grid_db = Home.resolve(Path(tmp) / "grid").db
        t0 = time.perf_counter()
        enqueue_many(grid_db, [row] * grid, run_root=str(home.runs))
        grid_s = time.perf_counter() - t0

        say(f"list {n} jobs")
        lists: dict[str, list[float]] = {"orm": [], "light": [], "raw": [], "orm_50": [], "light_50": [], "raw_50": []}
        for _ in range(args.repeats):
            for limit, suffix in ((None, ""), (50, "_50")):
                lists["orm" + suffix].append(_time(lambda: queries.list_jobs(db, limit=limit)))
                lists["light" + suffix].append(_time(lambda: light_list(url, limit=limit)))
                lists["raw" + suffix].append(_time(lambda: raw_list(Path(url), limit)))
        counted = len(queries.list_jobs(db))

        say(f"claim {n} jobs with {workers} processes")
        claim_s, claimed = claim_all(url, workers, aetui=True)
        raw_claim_s, raw_claimed = claim_all(str(raw_claim_db), workers, aetui=False)
        db.dispose()

    check = {"jobs_listed": counted, "claimed": len(claimed), "claimed_distinct": len(set(claimed)),
             "raw_claimed": len(raw_claimed), "raw_claimed_distinct": len(set(raw_claimed)),
             "each_claimed_once": len(claimed) == len(set(claimed)) == n}
    ops = {
        "enqueue_per_s": round(n / enqueue_s, 1), "raw_enqueue_per_s": round(n / raw_enqueue_s, 1),
        "grid_enqueue_per_s": round(grid / grid_s, 1),
        "claim_per_s": round(n / claim_s, 1), "raw_claim_per_s": round(n / raw_claim_s, 1),
        "list_rows_per_s": round(n / median(lists["orm"]), 1),
        "light_list_rows_per_s": round(n / median(lists["light"]), 1),
        "raw_list_rows_per_s": round(n / median(lists["raw"]), 1),
    }
    data = {
        "jobs": n, "workers": workers, "grid": grid, "ops_per_s": ops,
        "seconds": {"enqueue": round(enqueue_s, 3), "raw_enqueue": round(raw_enqueue_s, 3), "grid": round(grid_s, 3),
                    "claim": round(claim_s, 3), "raw_claim": round(raw_claim_s, 3),
                    **{f"list_{k}": round(median(v), 4) for k, v in lists.items()}},
        "ratios_to_raw_sqlite": {
            "enqueue": ratio(ops["enqueue_per_s"], ops["raw_enqueue_per_s"]),
            "claim": ratio(ops["claim_per_s"], ops["raw_claim_per_s"]),
            "list": ratio(ops["list_rows_per_s"], ops["raw_list_rows_per_s"]),
            "light_list": ratio(ops["light_list_rows_per_s"], ops["raw_list_rows_per_s"]),
            "list_first_50": ratio(median(lists["raw_50"]), median(lists["orm_50"])),
            "light_list_first_50": ratio(median(lists["raw_50"]), median(lists["light_50"])),
        },
        "check": check, "total_s": round(time.perf_counter() - started, 1),
    }
    path = write_result("store_ops", data, args.out, tiny=args.tiny)
    say(f"ops/s {ops}")
    say(f"wrote {path}")
    if not check["each_claimed_once"]:
        say("ERROR: jobs were not claimed exactly once")
        return 1
    return 0


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def copy_db(src: str | Path, dst: Path) -> None:
    """A consistent copy (WAL content included) through SQLite's backup API."""
    with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
        a.backup(b)
    with sqlite3.connect(dst) as b:
        b.execute("PRAGMA journal_mode=WAL")


def _connect(path: Path | str) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=60, isolation_level=None)
    con.execute("PRAGMA busy_timeout=60000")
    con.execute("PRAGMA synchronous=NORMAL")
    return con


def _fill(con: sqlite3.Connection, table: str, values: dict) -> tuple[str, list]:
    """An INSERT for `table` with `values`, and type-appropriate zeros for any other NOT NULL
    column without a default (the baseline keeps working when the schema grows)."""
    cols = {}
    for _, name, declared, notnull, default, pk in con.execute(f"PRAGMA table_info({table})"):
        if name in values:
            cols[name] = values[name]
        elif notnull and default is None and not pk:
            cols[name] = "" if "CHAR" in declared.upper() or "TEXT" in declared.upper() else 0
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    return sql, list(cols.values())


def raw_enqueue(path: Path, n: int) -> float:
    """n jobs, one a transaction, each with its run row: the same rows aetui writes."""
    from aetui.run_layout import run_dir

    con = _connect(path)
    con.row_factory = sqlite3.Row
    template = dict(con.execute("SELECT * FROM job ORDER BY id LIMIT 1").fetchone())
    template.pop("id")
    runs_root = Path(dict(con.execute("SELECT * FROM run ORDER BY id LIMIT 1").fetchone())["run_dir"]).parent
    job_sql, job_args = _fill(con, "job", template)
    columns = job_sql.split("(", 1)[1].split(")", 1)[0].split(", ")
    uid_at = columns.index("uid") if "uid" in columns else None  # unique: each job gets its own, below
    t0 = time.perf_counter()
    for _ in range(n):
        con.execute("BEGIN IMMEDIATE")
        if uid_at is not None:
            job_args[uid_at] = uuid.uuid4().hex
        job_id = con.execute(job_sql, job_args).lastrowid
        run_sql, run_args = _fill(con, "run", {"id": job_id, "run_dir": str(run_dir(runs_root, job_id)), "metrics": "{}",
                                               "artifacts": "{}", "results": "{}", "versions": "{}"})
        con.execute(run_sql, run_args)
        con.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    con.close()
    return elapsed


def raw_list(path: Path, limit: int | None) -> list:
    con = _connect(path)
    try:
        sql = "SELECT * FROM job ORDER BY id DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return con.execute(sql).fetchall()
    finally:
        con.close()


def claim_all(url: str, workers: int, *, aetui: bool) -> tuple[float, list[int]]:
    """Seconds for `workers` processes to claim every queued job, and the ids they claimed."""
    ctx = mp.get_context("spawn")
    ready, results, start = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_claimer, args=(url, i, aetui, ready, start, results)) for i in range(workers)]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.get(timeout=300)
    t0 = time.perf_counter()
    start.set()
    claimed: list[int] = []
    for _ in procs:
        claimed += results.get(timeout=3600)
    elapsed = time.perf_counter() - t0
    for proc in procs:
        proc.join()
    return elapsed, claimed


def _claimer(url: str, index: int, aetui: bool, ready, start, results) -> None:
    host, pid = socket.gethostname(), os.getpid()
    worker = f"{host}:{pid}"
    ids: list[int] = []
    if aetui:
        from store import open_db
        from store.queue import claim

        db = open_db(url)
        ready.put(index)
        start.wait()
        while (job := claim(db, worker=worker, host=host, pid=pid, device="cpu")) is not None:
            ids.append(job.id)
        db.dispose()
    else:
        con = _connect(url)
        ready.put(index)
        start.wait()
        while (job_id := _raw_claim(con, worker, host, pid)) is not None:
            ids.append(job_id)
        con.close()
    results.put(ids)


def _raw_claim(con: sqlite3.Connection, worker: str, host: str, pid: int) -> int | None:
    """The claim in bare SQL: take the best queued job, start an attempt, note the run's host."""
    now = time.time()
    con.execute("BEGIN IMMEDIATE")
    row = con.execute(
        "UPDATE job SET status = 'running', lease_owner = ?, lease_expires = ?, assigned_device = 'cpu',"
        " updated_at = ?, started_at = coalesce(started_at, ?) WHERE id = (SELECT id FROM job"
        " WHERE status = 'queued' AND (device = 'auto' OR device = 'cpu') ORDER BY priority DESC, id LIMIT 1)"
        " AND status = 'queued' RETURNING id, step", (worker, now + 60, now, now)).fetchone()
    if row is None:
        con.execute("COMMIT")
        return None
    job_id, step = row
    number = con.execute("SELECT count(*) FROM attempt WHERE job_id = ?", (job_id,)).fetchone()[0] + 1
    sql, args = _fill(con, "attempt", {"job_id": job_id, "number": number, "start_step": step, "worker": worker,
                                       "host": host, "pid": pid, "device": "cpu", "started_at": now,
                                       "outcome": "running"})
    con.execute(sql, args)
    con.execute("UPDATE run SET host = ?, device = 'cpu' WHERE id = ?", (host, job_id))
    con.execute("COMMIT")
    return job_id


if __name__ == "__main__":
    sys.exit(main())
