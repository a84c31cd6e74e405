"""Which queued job a worker starts next on its free devices, when jobs need one device
or several at once (data-parallel training: `aetui queue ... --gpus N`).

Two rules, in this order:

1. **Best job that fits, no head-of-line blocking.** Among the queued jobs whose devices
   are free now, the best one starts (highest priority, then oldest: `store.queue.claim`).
   A job that needs more devices than are free is passed over, so a 1-device job starts
   at once on a free device even while a 4-device job waits ahead of it for four.

2. **Aging against starvation.** Rule 1 alone can starve a wide job for ever: on a busy
   box every device that frees up is taken by the next narrow job before four are free
   together. So the worker keeps, for each waiting wide job it could run (it needs no more
   devices than the worker has), when it first saw it waiting and how often a job behind
   it in queue order was started instead (a *skip*). Once the first such job in queue order has
   waited `reserve_after_s` (`aetui worker --reserve-after`; defaults: `aetui.worker.defaults`)
   or was skipped `reserve_after_skips` times, the worker *reserves* for it: it starts
   only jobs at least that wide (whatever their priority), so its devices drain as the
   running jobs end; when enough are free the wide job starts (or an equally wide job
   ahead of it in queue order), and rule 1 applies again. A wide job thus waits at most about
   `reserve_after_s` plus the longest running job; narrow jobs lose at most that much
   throughput on the reserved devices (no runtime estimates exist to backfill them).

The clock and the skip counts live in the worker (a restarted worker starts counting
afresh); several workers on one store each reserve among their own devices only. Pure
logic here, apart from `Scheduler.claim`, which asks the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from aetui.worker.defaults import RESERVE_AFTER_S, RESERVE_AFTER_SKIPS


@dataclass(frozen=True)
class Policy:
    reserve_after_s: float = RESERVE_AFTER_S
    reserve_after_skips: int = RESERVE_AFTER_SKIPS


@dataclass(frozen=True)
class Waiting:
    """A queued job as the policy sees it."""

    id: int
    gpus: int
    priority: int = 0

    def ahead_of(self, other: "Waiting") -> bool:
        """Earlier in queue order (higher priority, then older)."""
        return (-self.priority, self.id) < (-other.priority, other.id)


@dataclass
class Scheduler:
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], float] = time.monotonic
    first_seen: dict[int, float] = field(default_factory=dict)
    skips: dict[int, int] = field(default_factory=dict)

    def need(self, wide: list[Waiting]) -> tuple[int, Waiting | None]:
        """The fewest devices a job must need to start now, and the job reserved for:
        (1, None) normally; (its width, it) once a waiting wide job starves.

        `wide`: the queued jobs that need several devices (no more than this worker has),
        in queue order."""
        now = self.clock()
        waiting = {w.id for w in wide}
        for gone in [i for i in self.first_seen if i not in waiting]:
            del self.first_seen[gone]
            self.skips.pop(gone, None)
        for w in wide:
            self.first_seen.setdefault(w.id, now)
        for w in wide:
            if (now - self.first_seen[w.id] >= self.policy.reserve_after_s
                    or self.skips.get(w.id, 0) >= self.policy.reserve_after_skips):
                return w.gpus, w
        return 1, None

    def started(self, job: Waiting, wide: list[Waiting], free: int) -> None:
        """`job` started on `free` free devices: every wide job ahead of it that did not fit
        was skipped once more."""
        self.first_seen.pop(job.id, None)
        self.skips.pop(job.id, None)
        for w in wide:
            if w.id != job.id and w.gpus > free and w.ahead_of(job):
                self.skips[w.id] = self.skips.get(w.id, 0) + 1

    def claim(self, db, *, free: list[str], total: int, worker: str, host: str, pid: int,
              skip_kinds: tuple[str, ...] = ()):
        """Claim the next job for these free devices (best first), or None: nothing fits, or
        the worker holds its devices back for a starving wide job."""
        from store import queries, queue

        wide = [Waiting(j.id, j.gpus, j.priority) for j in queries.queued_wide(db, max_gpus=total, skip_kinds=skip_kinds)] if total > 1 else []
        need, _ = self.need(wide)
        if len(free) < need:
            return None
        job = queue.claim(db, worker=worker, host=host, pid=pid, devices=free, min_gpus=need, skip_kinds=skip_kinds)
        if job is not None:
            self.started(Waiting(job.id, job.gpus, job.priority), wide, len(free))
        return job


def free_devices(devices: list[str], busy: Callable[[str], int], per_device: int) -> list[str]:
    """Devices with a free slot, least busy first (then in the worker's order): a wide job
    gets the first ones."""
    free = [d for d in devices if busy(d) < per_device]
    return sorted(free, key=lambda d: (busy(d), devices.index(d)))
