"""Notifications when jobs end (`aetui.notify`, the store's outbox `store.outbox`): a real
worker finishes, fails (its dependency was cancelled) and cancels cheap `noop` jobs (one
cancelled from the CLI while no worker runs), and the configured command (which writes its
environment to a file) and an apprise `json://` target served here receive the messages; a
grid sends one message; a hanging or failing notifier changes no job's outcome; the
dashboard shows a toast."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.conftest import ROOT, aetui, cli_env, wait_for



def needs_apprise() -> None:
    pytest.importorskip("apprise", reason="the notify extra (in the test extra): pip install 'aetui[notify]'")


class Target:
    """An apprise `json://` endpoint: every POST's JSON body, kept."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    needs_apprise()
    t = Target()
    yield t
    t.close()


def write_config(tmp: Path, monkeypatch, text: str) -> Path:
    path = tmp / "config.toml"
    path.write_text(text)
    monkeypatch.setenv("AETUI_CONFIG", str(path))
    return path


def enqueue(home: Path, *specs: dict, label: str | None = None) -> list[int]:
    """Jobs as one `aetui queue` makes them: several specs at once are a grid. Specs are
    not checked here, so `{"steps": 0}` is queued and then fails when it runs."""
    from aetui.home import Home
    from store.queue import enqueue_many

    h = Home.resolve(home)
    rows = [{"kind": "noop", "spec": spec, "label": label or f"noop {spec.get('steps')}"} for spec in specs]
    return [j.id for j in enqueue_many(h.db, rows, run_root=str(h.runs))]


def after(home: Path, job_id: int) -> int:
    """A job queued with `--after job_id`."""
    from aetui.home import Home
    from store.queue import enqueue_many

    h = Home.resolve(home)
    (job,) = enqueue_many(h.db, [{"kind": "noop", "spec": {}, "label": "then"}], run_root=str(h.runs), after_id=job_id)
    return job.id


def status(home: Path, job_id: int) -> str:
    from aetui.home import Home
    from store import queries

    return str(queries.get_job(Home.resolve(home).db, job_id).status)


def start_worker(home: Path, procs, *args: str) -> subprocess.Popen:
    return procs.start([sys.executable, "-m", "aetui", "worker", "--until-empty", "--poll", "0.1", *args],
                       cwd=ROOT, env=cli_env(home), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def envs(folder: Path) -> dict[str, dict[str, str]]:
    """The environments the notify command wrote, by file name (`<job id>.<event>`)."""
    out = {}
    for path in folder.iterdir():
        out[path.name] = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return out


@pytest.mark.slow  # a real worker and its job processes
def test_a_worker_sends_every_ending_through_the_command_and_apprise(home, tmp_path, monkeypatch, target, procs):
    sent = tmp_path / "sent"
    sent.mkdir()
    # the values reach the command in its environment only: a label or an error with quotes
    # cannot break it
    write_config(tmp_path, monkeypatch, f"""
[notify]
on = ["done", "failed", "cancelled"]
command = 'env | grep ^AETUI_ > "{sent}/$AETUI_JOB_ID.$AETUI_EVENT"'
urls = ["{target.url}"]
timeout = 20
""")
    tricky = f'it\'s "1" $(touch {tmp_path}/pwned) `touch {tmp_path}/pwned`'
    (alone,) = enqueue(home, {"steps": 1}, label=tricky)
    (early,) = enqueue(home, {"steps": 1})
    bad = after(home, early)  # the worker fails it: the job it waits for is cancelled
    aetui(home, "cancel", str(early))  # from the CLI, no worker running: its notice waits in the store
    (late,) = enqueue(home, {"steps": 1000, "sleep_s": 0.05})
    worker = start_worker(home, procs, "--devices", "cpu:0,cpu:1")
    wait_for(lambda: status(home, late) == "running", what=f"job {late} running")
    aetui(home, "cancel", str(late))  # a running job, stopped by its worker
    out, _ = worker.communicate(timeout=180)
    assert worker.returncode == 0, out

    got = envs(sent)
    assert set(got) == {f"{alone}.done", f"{bad}.failed", f"{early}.cancelled", f"{late}.cancelled"}, (got, out)
    done = got[f"{alone}.done"]
    assert done["AETUI_JOB_ID"] == str(alone) and done["AETUI_STATUS"] == "done"
    assert done["AETUI_LABEL"] == tricky and done["AETUI_ERROR"] == ""
    assert not (tmp_path / "pwned").exists()
    assert Path(done["AETUI_RUN_DIR"]) == home / "runs" / str(alone)
    assert done["AETUI_DURATION"].isdigit()
    assert got[f"{bad}.failed"]["AETUI_STATUS"] == "failed"
    assert got[f"{bad}.failed"]["AETUI_ERROR"] == f"dependency job {early} cancelled"
    assert got[f"{early}.cancelled"]["AETUI_DURATION"] == ""  # it never started
    assert got[f"{late}.cancelled"]["AETUI_ERROR"] == "cancelled by user"

    titles = sorted(m["title"] for m in target.received)
    assert titles == sorted([f"aetui: job {alone} done", f"aetui: job {bad} failed", f"aetui: job {early} cancelled",
                             f"aetui: job {late} cancelled"])
    assert "127.0.0.1" not in out  # the URL (its token) is never in the log
    assert [status(home, j) for j in (alone, bad, early, late)] == ["done", "failed", "cancelled", "cancelled"]


def test_a_grid_and_a_chain_send_one_message_each(home, tmp_path):
    """The last job of a grid (or of an --after chain) to end makes one notice for all;
    its jobs send none of their own. A second pass sends nothing again."""
    from aetui.home import Home
    from aetui.notify.channels import Channels
    from aetui.notify.sender import Sender
    from store import queue

    h = Home.resolve(home)
    sent = tmp_path / "sent"
    sent.mkdir()
    grid = enqueue(home, {"steps": 1}, {"steps": 1}, {"steps": 1})
    (first,) = enqueue(home, {"steps": 1})
    then = after(home, first)
    (alone,) = enqueue(home, {"steps": 1})
    sender = Sender(h, Channels(command=f'echo "$AETUI_JOB_IDS" > "{sent}/$AETUI_JOB_ID.$AETUI_EVENT"',
                                on=["done", "failed", "group"], timeout_s=20), log=lambda line: None)
    for job_id, end in ((grid[0], "done"), (grid[1], "failed"), (first, "done"), (alone, "done")):
        queue.claim(h.db, worker="w", host="h", pid=1, device="cpu", job_id=job_id)
        queue.finish(h.db, job_id=job_id, worker="w", status=end)
    sender.pass_once()
    assert sorted(p.name for p in sent.iterdir()) == [f"{alone}.done"]  # the grid and chain still run
    queue.cancel(h.db, job_id=grid[2])
    queue.cancel(h.db, job_id=then)
    sender.pass_once()
    sender.pass_once()
    assert sorted(p.name for p in sent.iterdir()) == sorted([f"{alone}.done", f"{grid[0]}.group", f"{first}.group"])
    assert (sent / f"{grid[0]}.group").read_text().split() == list(map(str, grid))
    assert (sent / f"{first}.group").read_text().split() == [str(first), str(then)]


@pytest.mark.slow  # a real worker and its job processes
def test_a_hanging_or_failing_notifier_changes_no_job(home, tmp_path, monkeypatch, procs):
    needs_apprise()
    write_config(tmp_path, monkeypatch, """
[notify]
on = ["done"]
command = 'sleep 60'
urls = ["json://127.0.0.1:9/secret-token"]
timeout = 1
""")
    (job,) = enqueue(home, {"steps": 1})
    worker = start_worker(home, procs)
    out, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, out
    assert status(home, job) == "done"
    assert "command: no answer within 1 s" in out and "apprise: " in out, out
    assert "secret-token" not in out and "127.0.0.1" not in out
    from aetui.home import Home
    from store.tables import Notice

    with Home.resolve(home).db.connect() as c:
        (notice,) = c.execute(Notice.__table__.select()).all()
    assert notice.sent_at is None and notice.tries == 1 and "secret-token" not in notice.last_error


def test_notify_test_sends_through_every_channel(home, tmp_path, monkeypatch, target):
    sent = tmp_path / "test.env"
    write_config(tmp_path, monkeypatch, f"""
[notify]
command = 'env | grep ^AETUI_ > "{sent}"'
urls = ["{target.url}"]
""")
    out = aetui(home, "notify", "test").stdout
    assert "command: " in out and "apprise: json://***: sent" in out and "127.0.0.1" not in out
    assert "AETUI_EVENT=test" in sent.read_text()
    assert [m["title"] for m in target.received] == ["aetui: test notification"]
    write_config(tmp_path, monkeypatch, "[notify]\nurls = ['json://127.0.0.1:9/x']\ntimeout = 5\n")
    failed = aetui(home, "notify", "test", check=False)
    assert failed.returncode == 1 and "FAILED" in failed.stdout
    write_config(tmp_path, monkeypatch, "")
    none = aetui(home, "notify", "test", check=False)
    assert none.returncode == 2 and "no notification channel configured" in none.stderr


def test_the_dashboard_shows_a_toast_when_a_job_ends(home):
    import asyncio

    from aetui.home import Home
    from aetui.tui.app import AetuiApp
    from store import queue

    (job,) = enqueue(home, {"steps": 1})

    async def run() -> list[str]:
        app = AetuiApp(Home.resolve(home), graphics="halfblock", poll_s=0.2, bell="bell")
        async with app.run_test(size=(100, 30)) as pilot:
            deadline = time.monotonic() + 30
            while app._notices.last is None and time.monotonic() < deadline:  # endings before it are old news
                await pilot.pause(0.05)
            queue.cancel(Home.resolve(home).db, job_id=job)
            while not app._notifications and time.monotonic() < deadline:
                await pilot.pause(0.1)
            return [n.message for n in app._notifications]

    assert asyncio.run(run()) == [f"job {job} (noop 1) cancelled"]


# a job's row on the dashboard's terminal: its id, then its kind
_ROW = re.compile(rb"\b\d+ +noop\b")
_OSC = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_CSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]")


@pytest.mark.slow  # the real dashboard on a pseudo-terminal, a few seconds
@pytest.mark.parametrize("mode", ["bell", "osc9"])
def test_the_dashboard_rings_the_terminal_when_a_job_ends(home, tmp_path, mode):
    """`[notify] bell`: the dashboard on a real pseudo-terminal (as in tmux over SSH) writes
    BEL, or an OSC 9 notice naming the job, when a job ends."""
    import fcntl
    import os
    import pty
    import select
    import signal
    import struct
    import termios

    from aetui.home import Home
    from store import queue

    config = tmp_path / "config.toml"
    config.write_text(f'[notify]\nbell = "{mode}"\n')
    jobs = [enqueue(home, {"steps": 1})[0] for _ in range(4)]  # one at a time: not a grid
    env = {**cli_env(home), "AETUI_CONFIG": str(config), "TERM": "xterm-256color"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the dashboard on a 100x30 terminal
        os.chdir(ROOT)
        os.execve(sys.executable, [sys.executable, "-m", "aetui"], env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    out, cancelled, rang = b"", [], None
    db = Home.resolve(home).db
    try:
        deadline, next_cancel = time.monotonic() + 120, None
        while rang is None and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 1 << 16)
                except OSError:  # it exited
                    break
            painted = _ROW.search(_CSI.sub(b"", _OSC.sub(b"", out)))
            # endings from before the dashboard looked are old news: end one job at a time
            # until one rings (the first may end before its first look at the store)
            if painted and jobs and (next_cancel is None or time.monotonic() > next_cancel):
                cancelled.append(jobs.pop(0))
                queue.cancel(db, job_id=cancelled[-1])
                next_cancel = time.monotonic() + 3
            if mode == "bell":
                rang = b"\x07" if b"\x07" in _OSC.sub(b"", out) else None
            else:
                found = re.search(rb"\x1b\]9;aetui: job (\d+) [^\x07]*cancelled\x07", out)
                rang = found.group(0) if found else None
    finally:
        os.kill(pid, signal.SIGTERM)
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        os.close(fd)
    assert rang is not None, (cancelled, out[-3000:])
    if mode == "osc9":
        assert int(re.search(rb"job (\d+)", rang).group(1)) in cancelled
