"""The `command` job kind's runner (`aetui add -- CMD ...`): a program run as is.

It runs in the job's child process (`aetui.worker.child`), which stays its parent for its
whole life:

- the program starts in a session (so a process group) of its own, in the folder captured
  at queue time, with only the environment its spec carries (`aetui.specs.command`) plus
  `AETUI_JOB_ID`, `AETUI_RUN_DIR`, `AETUI_ATTEMPT`, `AETUI_TB_DIR` and the devices the
  worker pinned (`CUDA_VISIBLE_DEVICES` by UUID, `CUDA_DEVICE_ORDER=PCI_BUS_ID`);
- its stdout and stderr go to the run folder's `stdout.log` / `stderr.log`;
- a stop request (cancel, the worker stopping, or the worker dying: the child's
  parent-death signal is a SIGTERM, `aetui.worker.lifeline`) ends the whole group: SIGTERM,
  then SIGKILL after the grace period. A parent-death signal would reach only the group's
  first process; its own children would run on, holding the GPU;
- whatever the program leaves running in its group when it exits is ended the same way;
- exit 0 is done; anything else fails the job with its exit code or signal.

Progress is the elapsed time and the last line of output (`Job.last_line`), written every
second or so; a command that prints nothing is not stopped as stalled for it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from aetui.experiments.context import PROGRESS_EVERY_S, JobContext, JobFailed, StopRequested
from aetui.run_layout import RunLayout
from aetui.specs.command import CommandSpec
from aetui.worker.defaults import CANCEL_GRACE_S, GRACE_ENV, STOP_POLL_S
from aetui.worker.lifeline import die_with_parent

# the share of the worker's grace the child takes for the group, so that the group is
# killed before the worker kills the child itself
GROUP_GRACE_SHARE = 0.75


def run(spec: CommandSpec, ctx: JobContext) -> None:
    from store import queries

    layout = RunLayout.at(ctx.run_dir)
    layout.tb.mkdir(parents=True, exist_ok=True)
    ctx.started(0)
    attempts = queries.attempts(ctx.home.db, ctx.job_id)
    env = command_env(spec, job_id=ctx.job_id, run_dir=layout.root, attempt=attempts[-1].number if attempts else 1)
    parent = os.getpid()
    with open(layout.stdout, "ab") as out, open(layout.stderr, "ab") as err:
        try:
            proc = subprocess.Popen(spec.argv, cwd=spec.cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=err, start_new_session=True, preexec_fn=lambda: die_with_parent(parent))
        except OSError as e:  # no such program, not executable, the folder is gone
            raise JobFailed(f"cannot run {spec.argv[0]}: {e.strerror or e}") from None
    grace = _grace()
    last_report = 0.0
    start = time.monotonic()
    try:
        while proc.poll() is None:
            if ctx.should_stop():
                end_group(proc, grace)
                raise StopRequested(0)
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_S:
                last_report = now
                ctx.last_line(last_line(layout))
            time.sleep(STOP_POLL_S)
    finally:
        if proc.poll() is None:  # an error of ours (LeaseLost, the store): the program ends too
            end_group(proc, grace)
    end_group(proc, min(grace, 2.0))  # what it left running in its group
    ctx.last_line(last_line(layout))
    ctx.record(metrics={"exit_code": proc.returncode, "seconds": round(time.monotonic() - start, 3)})
    if proc.returncode:
        raise JobFailed(exit_reason(proc.returncode) + (f": {tail}" if (tail := last_line(layout)) else ""))


def command_env(spec: CommandSpec, *, job_id: int, run_dir: Path, attempt: int) -> dict[str, str]:
    """The program's whole environment: what its spec carries, its --env pairs, then what the
    worker sets for every attempt (these always win, whatever was inherited or asked)."""
    run_dir = Path(os.path.abspath(run_dir))
    return {
        **spec.env, **spec.user_env,
        "AETUI_JOB_ID": str(job_id), "AETUI_RUN_DIR": str(run_dir), "AETUI_ATTEMPT": str(attempt),
        "AETUI_TB_DIR": str(RunLayout.at(run_dir).tb),
        # the worker pinned this child's devices (`aetui.worker.devices.pinned_visible`)
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", ""), "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }


def end_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the program's whole process group, SIGKILL after `grace` seconds; returns
    when no process of the group is left (the program itself reaped)."""
    pgid = proc.pid  # a session leader: its pid is its group's id while any member lives
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _group_alive(proc, pgid) and time.monotonic() < deadline:
        time.sleep(min(STOP_POLL_S, 0.05))
    if _group_alive(proc, pgid):
        _signal_group(pgid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 5.0  # the kernel tears the rest down; orphans are init's to reap
        while _group_alive(proc, pgid) and time.monotonic() < deadline:
            time.sleep(0.02)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(proc: subprocess.Popen, pgid: int) -> bool:
    proc.poll()  # reap the program itself once it exits
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _only_zombies(pgid)


def _only_zombies(pgid: int) -> bool:
    """Members of the group that exited but are not reaped yet (their parent is not us)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] != "Z":
            return False
    return True


def _grace() -> float:
    try:
        return max(0.1, float(os.environ.get(GRACE_ENV, CANCEL_GRACE_S)) * GROUP_GRACE_SHARE)
    except ValueError:
        return CANCEL_GRACE_S * GROUP_GRACE_SHARE


def exit_reason(code: int) -> str:
    """`exit code 3`, or `killed by SIGSEGV` for a negative Popen returncode."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def last_line(layout: RunLayout, limit: int = 200) -> str:
    """The last line the program wrote (a `\\r` progress bar's last state counts), from
    whichever of its two logs changed last."""
    newest = ""
    newest_at = -1.0
    for path in (layout.stdout, layout.stderr):
        try:
            size, mtime = path.stat().st_size, path.stat().st_mtime
            with open(path, "rb") as f:
                f.seek(max(0, size - 4096))
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
        lines = [ln for ln in lines if not ln.startswith("aetui: job ")]  # the child's own lines
        if lines and mtime >= newest_at:
            newest, newest_at = lines[-1], mtime
    return newest[:limit]
