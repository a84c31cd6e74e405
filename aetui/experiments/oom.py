"""Running out of memory: telling it from other errors, describing it, retrying at half the batch.

`is_out_of_memory` is the one test of "this error means out of memory", used by the
trainer (fail clearly or retry) and by the worker (the one-line reason of any job that
failed on it). It imports nothing heavy: an error can only be torch's if torch is loaded.

Test-only hook: the environment variable `AETUI_FAKE_OOM_AT_BATCH=N` makes the trainer's
step raise `torch.cuda.OutOfMemoryError` at the first step of a batch of N or more, so
that the out-of-memory path runs in tests without a GPU; the handling is the same code as
a real OOM. It is installed around the step function at set-up (`with_fake_oom`), never
inside the training loop.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Callable

from aetui.experiments.context import JobContext, JobFailed, RetryJob

if TYPE_CHECKING:
    from aetui.specs import TrainSpec

FAKE_OOM_ENV = "AETUI_FAKE_OOM_AT_BATCH"  # test-only, see the module docstring


def is_out_of_memory(e: BaseException) -> bool:
    """torch's CUDA out-of-memory error, or a RuntimeError that says the allocator ran out
    (CUDA's "out of memory", the CPU allocator's "can't allocate memory")."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(e, torch.cuda.OutOfMemoryError):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def fail_or_retry(spec: TrainSpec, ctx: JobContext) -> None:
    """After a training attempt ran out of memory: JobFailed with the batch size and the
    memory numbers, or, when the spec has `oom_retry` and this job has not retried yet,
    RetryJob at half the batch (it resumes from its last checkpoint)."""
    from store.queries import get_run

    batch = ctx.batch_size or spec.batch_size
    what = f"{'CUDA ' if ctx.device.startswith('cuda') else ''}out of memory at batch size {batch}: {memory_numbers(ctx.device)}"
    run = get_run(ctx.home.db, ctx.job_id)
    retried = run is not None and "oom_retry" in run.metrics
    half = batch // 2 - (batch // 2) % spec.gpus  # still split evenly over the devices
    if spec.oom_retry and half >= 1 and not retried:
        ctx.record(metrics={"oom_retry": {"from_batch_size": batch, "to_batch_size": half, "error": what}})
        raise RetryJob(f"{what}; retrying once with batch size {half} (--oom-retry)", {"batch_size": half})
    hint = "already retried at half the batch" if retried else "lower --batch-size, or queue with --oom-retry"
    raise JobFailed(f"{what} ({hint})")


def memory_numbers(device: str) -> str:
    """Free and total memory of a CUDA device and this process's peak use, in GiB."""
    import torch

    if not device.startswith("cuda") or not torch.cuda.is_available():
        return f"no CUDA memory numbers on {device}"
    gib = 1024 ** 3
    try:
        free, total = torch.cuda.mem_get_info(device)
        peak, reserved = torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)
        name = torch.cuda.get_device_name(device)
    except RuntimeError as e:  # the device may be in a bad state after the failure
        return f"memory numbers unavailable ({str(e).splitlines()[0][:200]})"
    return (f"this job peaked at {peak / gib:.2f} GiB allocated ({reserved / gib:.2f} GiB reserved); "
            f"{free / gib:.2f} GiB free of {total / gib:.2f} GiB on {name}")


def with_fake_oom(step: Callable, batch: int) -> Callable:
    """`step` itself, or, when a test set `AETUI_FAKE_OOM_AT_BATCH` to `batch` or less, a
    step that raises torch's CUDA out-of-memory error before it does anything."""
    value = os.environ.get(FAKE_OOM_ENV)
    limit = int(value) if value else None
    if limit is None or batch < limit:
        return step

    def out_of_memory():
        import torch

        raise torch.cuda.OutOfMemoryError(f"CUDA out of memory ({FAKE_OOM_ENV}={limit} test hook)")

    return out_of_memory
