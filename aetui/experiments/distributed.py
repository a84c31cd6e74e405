"""Data-parallel training across the devices of one job (torch.distributed), and the
one-process case, which costs nothing.

The worker starts one process per device (`aetui.worker.gang`) with `AETUI_RANK`,
`AETUI_WORLD_SIZE` and `AETUI_MASTER_PORT` in their environment. `joined(spec, ctx)`
makes them one process group and hands the trainer a `Group`; without those variables
(one device, a foreground run) it hands a `Solo`, whose methods change nothing.

- Backend: NCCL on CUDA devices, gloo on the CPU; rendezvous over TCP at 127.0.0.1 on
  the worker's free port. Small control messages (the stop agreement below) go over a
  second, gloo, group, so reading them never waits for the GPU.
- Sharding: every rank draws the same seeded permutation (same seed; on resume, the same
  `DataOrder` state from the checkpoint). The global batch (`--batch-size`) of B indices is
  cut into N contiguous shares of B/N; rank r takes share r. DDP averages the gradients,
  so one step equals a one-process step on the whole batch (to float rounding), except
  for batch-norm statistics, which are each device's own unless the spec asks for
  SyncBatchNorm (`sync_bn`). torch's SyncBatchNorm refuses CPU tensors (checked with torch
  2.14: "SyncBatchNorm expected input tensor to be on GPU or XPU or privateuseone"), so a
  CPU job with `sync_bn` on several processes fails at once, saying so.
- Rank 0 writes: TensorBoard, checkpoints, image files and the store (progress with the
  whole job's images/s, metrics, outcome). Every rank loads the checkpoint on resume.
- Stopping: a stop request (SIGTERM: cancel, worker stopping) reaches the ranks at
  different steps, but all must leave the loop at the same step, or the others wait for
  ever in the next all-reduce. Each step every rank adds its flag to an all-reduce (MAX)
  started asynchronously and read one step later, so every rank sees the same answer at
  the same step. The same message carries rank 0's "a time-based checkpoint is due"
  (`checkpoint_minutes`), so those checkpoints happen at the same step everywhere too.
- A lost peer (its process died) makes collectives fail (gloo) or hang (NCCL): the
  surviving ranks raise `GroupBroken`, which writes nothing; the worker, which watches
  every rank, ends the rest and requeues the job from its checkpoint
  (`aetui.worker.gang`).
- Noise (`train_noise`): each rank corrupts its share with its own random stream, seeded
  from (seed, rank, start step) on every (re)start: reproducible, but after a resume not
  the stream an uninterrupted run would have drawn.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Callable, Iterator

from aetui.experiments.context import JobFailed, LeaseLost, StopRequested

RANK_ENV, WORLD_ENV, PORT_ENV = "AETUI_RANK", "AETUI_WORLD_SIZE", "AETUI_MASTER_PORT"
MASTER_ADDR = "127.0.0.1"
TIMEOUT = timedelta(minutes=30)  # a collective that long means a peer hangs; the worker ends it sooner
SYNC_BN_CPU = ("--sync-bn needs CUDA devices: torch's SyncBatchNorm does not run on the CPU (gloo); "
               "queue the job without --sync-bn (batch-norm statistics per device) or on GPUs")


class GroupBroken(LeaseLost):
    """A peer process of this data-parallel job is gone: stop at once and write nothing;
    the worker, which watches every rank, ends the others and records the outcome."""


def layout() -> tuple[int, int, int | None]:
    """(rank, world size, master port) that the worker gave this process; (0, 1, None) alone."""
    world = int(os.environ.get(WORLD_ENV) or 1)
    rank = int(os.environ.get(RANK_ENV) or 0)
    port = os.environ.get(PORT_ENV)
    return rank, world, int(port) if port else None


def check_sync_bn(sync_bn: bool, device: str, world: int) -> None:
    """JobFailed when the spec asks for SyncBatchNorm where torch cannot do it."""
    if sync_bn and world > 1 and not device.startswith("cuda"):
        raise JobFailed(SYNC_BN_CPU)


class Solo:
    """One process: every method leaves things as they are."""

    rank, world, main = 0, 1, True

    def global_batch(self, batch: int) -> int:
        return batch

    def shard(self, idx):
        return idx

    def wrap(self, model, sync_bn: bool = False):
        return model

    def seed(self, seed: int, step: int) -> None:
        pass

    def should_stop(self, asked: Callable[[], bool], due: bool) -> bool:
        return asked()

    def due(self, local: bool) -> bool:
        return local

    def average(self, values):
        return values

    def writer(self, make: Callable[[], Any]):
        return make()

    def metrics(self) -> dict[str, Any]:
        return {}


class Group(Solo):
    """One rank of a data-parallel job."""

    def __init__(self, rank: int, world: int, device, backend: str, control):
        self.rank, self.world, self.main = rank, world, rank == 0
        self.device, self.backend, self.control = device, backend, control
        self._pending = None  # (work, flags) of the stop agreement in flight
        self._due = self._acted = False

    def global_batch(self, batch: int) -> int:
        """The largest batch up to `batch` that splits evenly over the devices."""
        even = batch - batch % self.world
        if even < self.world:
            raise JobFailed(f"batch size {batch} is smaller than the {self.world} devices it is split over")
        return even

    def shard(self, idx):
        n = len(idx) // self.world
        return idx[self.rank * n:(self.rank + 1) * n]

    def wrap(self, model, sync_bn: bool = False):
        """DDP around `model` (SyncBatchNorm layers first, when asked); `model` itself stays
        the plain module whose state the checkpoints hold."""
        import torch
        from torch.nn.parallel import DistributedDataParallel

        if sync_bn:
            check_sync_bn(sync_bn, str(self.device), self.world)
            for name, child in list(model.named_children()):  # in place: `model` keeps its identity
                setattr(model, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def seed(self, seed: int, step: int) -> None:
        import torch

        digest = hashlib.blake2b(f"{seed}:{self.rank}:{step}".encode(), digest_size=8).digest()
        torch.manual_seed(int.from_bytes(digest, "little") >> 1)

    def should_stop(self, asked: Callable[[], bool], due: bool) -> bool:
        """Called by every rank once a step: True at the same step on all ranks, one step
        after any rank was asked to stop. Also agrees on rank 0's `due` (see `due`)."""
        import torch
        import torch.distributed as dist

        stop = agreed_due = False
        if self._pending is not None:
            work, flags = self._pending
            work.wait()
            stop, agreed_due = bool(flags[0]), bool(flags[1])
            self._pending = None
        self._due = agreed_due and not self._acted  # the flag sent with the step it was acted on is stale
        self._acted = self._due
        if stop:
            return True
        flags = torch.tensor([int(asked()), int(due and self.main)], dtype=torch.int32)
        work = dist.all_reduce(flags, op=dist.ReduceOp.MAX, group=self.control, async_op=True)
        self._pending = (work, flags)
        return False

    def due(self, local: bool) -> bool:
        """Rank 0's time-based checkpoint decision, the same at the same step on every rank."""
        return self._due

    def average(self, values):
        """The mean over the ranks of a tensor (the window of step losses)."""
        import torch.distributed as dist

        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values / self.world

    def writer(self, make: Callable[[], Any]):
        return make() if self.main else NullWriter()

    def metrics(self) -> dict[str, Any]:
        return {"world_size": self.world, "backend": self.backend}

    def close(self) -> None:
        """Leave together: wait for every rank (rank 0 evaluates and records after the
        others are done), then tear the group down."""
        import sys

        import torch.distributed as dist

        try:
            if self._pending is not None:
                self._pending[0].wait()
                self._pending = None
            dist.barrier(group=self.control)
            dist.destroy_process_group()
        except Exception as e:  # noqa: BLE001 - a peer gone at the very end: the job's outcome stands
            print(f"aetui: rank {self.rank}: leaving the device group: {_first_line(e)}", file=sys.stderr)


class NullWriter:
    """A TensorBoard writer that writes nothing (every rank but 0)."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


@contextmanager
def joined(sync_bn: bool, device: str) -> Iterator[Solo]:
    """This process's part of the job: a `Group` when the worker started several, else a
    `Solo`. A collective that fails because a peer is gone raises `GroupBroken`."""
    rank, world, port = layout()
    if world == 1:
        yield Solo()
        return
    check_sync_bn(sync_bn, device, world)
    import torch
    import torch.distributed as dist

    dev = torch.device(device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.set_device(dev)
    else:  # the ranks share the machine's cores
        torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 1) // world)))
    backend = "nccl" if cuda else "gloo"
    dist.init_process_group(backend, init_method=f"tcp://{MASTER_ADDR}:{port}", rank=rank, world_size=world,
                            timeout=TIMEOUT, **({"device_id": dev} if cuda else {}))
    control = dist.new_group(backend="gloo", timeout=TIMEOUT)
    group = Group(rank, world, dev, backend, control)
    try:
        yield group
    except StopRequested:  # every rank stops at the same step (`Group.should_stop`)
        group.close()
        raise
    except Exception as e:
        if peer_lost(e):
            raise GroupBroken(f"rank {rank}: a peer process of this job is gone ({_first_line(e)})") from e
        raise
    group.close()


def peer_lost(e: BaseException) -> bool:
    """Whether an error is a collective failing because another rank is gone."""
    import torch.distributed as dist

    if isinstance(e, getattr(dist, "DistError", ())):
        return True
    text = str(e).lower()
    return isinstance(e, RuntimeError) and any(s in text for s in (
        "connection closed by peer", "connection reset by peer", "broken pipe", "gloo", "nccl"))


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:300]
