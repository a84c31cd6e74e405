"""A full disk: telling it from other errors, and what the job's error says about it.

Every writer of a run folder fails its own way when the file system is full: torch.save
raises `RuntimeError: [enforce fail at inline_container.cc:...]` whose context is the
`OSError(ENOSPC)` its file write got, TensorBoard's writer thread and PIL raise the
OSError itself. `no_space` finds that OSError anywhere in the exception's chain, so one
test covers them all; `checkpoint.save` re-raises it with the checkpoint's path.
"""

from __future__ import annotations

import errno
from pathlib import Path

from aetui.experiments.context import JobFailed

FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # no space left; the user's quota is spent


def no_space(e: BaseException | None) -> OSError | None:
    """The "no space left" OSError that `e` is or was raised from (its cause or context)."""
    seen: set[int] = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in FULL:
            return e
        e = e.__cause__ or e.__context__
    return None


def disk_full(full: OSError, run_dir: Path, good_step: int, job_id: int) -> JobFailed:
    """The job's one-line error: where the disk was full and the checkpoint a retry
    resumes from; `good_step` becomes the attempt's end."""
    where = full.filename or run_dir
    resume = (f"the last good checkpoint is step {good_step}; free space, then `aetui retry {job_id}` resumes from it"
              if good_step else f"no checkpoint was saved; free space, then `aetui retry {job_id}` starts it again")
    return JobFailed(f"disk full at {where} ({full.strerror or 'no space left on device'}): {resume}", step=good_step)
