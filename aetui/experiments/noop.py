"""The hidden `noop` job kind: sleeps and reports progress, nothing else.

A test and benchmark aid, not a user feature: it puts many cheap jobs through real
worker processes and their child processes (claims, leases, heartbeats, outcomes)
without the cost of torch. An attempt resumes at the job's last recorded step. Each
attempt appends one line to `noop.log` in its run
folder, so a test can check that every job ran exactly once. Fault aids for tests:
`hang_at` (a job that hangs) and `write_steps` (a job that writes into its run folder).
"""

from __future__ import annotations

import os
import time

from aetui.experiments.context import JobContext, StopRequested
from aetui.specs import NoopSpec


def run(spec: NoopSpec, ctx: JobContext) -> None:
    from store.queries import get_job

    start = min(get_job(ctx.home.db, ctx.job_id).step, spec.steps)  # resumes where it got to
    ctx.started(start)
    with open(ctx.artifact_path("noop.log"), "a") as log:
        log.write(f"{ctx.owner} {os.getpid()}\n")
    for step in range(start + 1, spec.steps + 1):
        if ctx.should_stop():
            raise StopRequested(step - 1)
        if step == spec.hang_at:
            while True:  # a deadlock: no progress, deaf to stop requests (SIGKILL ends it)
                time.sleep(3600)
        if spec.sleep_s:
            time.sleep(spec.sleep_s)  # like a long GPU step: a stop request waits for it
        if spec.write_steps:  # into the run folder as it is now (no mkdir: a deleted folder stays deleted)
            (ctx.run_dir / "noop.step").write_text(f"{step}\n")
        ctx.progress(step, spec.steps, force=step == spec.steps)
    ctx.record(metrics={"steps_done": spec.steps})
