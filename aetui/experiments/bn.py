"""Batch-norm mode for inference: the article runs its models in train mode, so batch
norm normalises with the statistics of the batch being processed. That mode must not
change the saved running statistics, so they are restored afterwards."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Literal

BNMode = Literal["train", "eval"]


@contextmanager
def bn_mode(model, mode: BNMode) -> Iterator[None]:
    """Run `model` with batch statistics (`train`) or running statistics (`eval`),
    leaving its mode and its running statistics as they were."""
    import torch

    was_training = model.training
    saved = {name: buf.detach().clone() for name, buf in model.named_buffers()}
    model.train(mode == "train")
    try:
        yield
    finally:
        model.train(was_training)
        with torch.no_grad():
            for name, buf in model.named_buffers():
                buf.copy_(saved[name])
