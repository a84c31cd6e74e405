"""Experiments: each job kind is a function `run(spec, ctx)` from a validated spec to
results written through the job context (store rows, TensorBoard, files in the run folder).

Runners are imported only when a job of their kind runs, so nothing here costs torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable

RUNNERS = {
    "train": "aetui.experiments.train",
    "sweep": "aetui.experiments.sweep",
    "walk": "aetui.experiments.walk",
    "probe": "aetui.experiments.probe",
    "noop": "aetui.experiments.noop",  # hidden: a test and benchmark aid for the queue
}


def runner(kind: str) -> Callable:
    """The `run(spec, ctx)` function of a job kind."""
    if kind not in RUNNERS:
        raise ValueError(f"no runner for job kind {kind!r}")
    return import_module(RUNNERS[kind]).run
