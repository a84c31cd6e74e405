"""Scalar curves (the loss, or any scalar a run logged) from a run's TensorBoard event
files, cached per run.

A run's curve is re-read only when its event files grew (their total size is the cache
key), so polling a finished run costs one `stat` per file. `scalar_tags` lists what a
run logged, whatever the names (a command job's own tags too): the scalar picker's list.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from aetui.run_layout import RunLayout

LOSS_TAG = "train/loss"
_cache: dict[str, tuple[tuple, list]] = {}  # run folder::scalar (or ::*tags) -> (files key, value)
_lock = threading.Lock()


def files_key(tb: Path) -> tuple:
    """(path, size) of every event file under `tb`: what changes when a run writes more."""
    try:
        files = sorted(tb.rglob("events.out.tfevents.*"))
        return tuple((str(f), f.stat().st_size) for f in files)
    except OSError:
        return ()


def read_scalars(run_dir: str | Path, tag: str = LOSS_TAG) -> list[tuple[int, float]]:
    """(step, value) points of one scalar of a run, in step order; [] when there are none."""
    return _cached(run_dir, tag, lambda tb: _load(tb, tag))


def scalar_tags(run_dir: str | Path) -> list[str]:
    """Every scalar tag a run's TensorBoard files hold: a built-in training's `train/loss`
    first, then the rest by name, or whatever a command job wrote under `$AETUI_TB_DIR`;
    [] when there are none. Cached like the curves (re-read when the files grew)."""
    return list(_cached(run_dir, "*tags", _load_tags))


def _cached(run_dir: str | Path, what: str, load: Callable[[Path], list]) -> list:
    """`load(tb)` of a run's TensorBoard folder, kept until its event files grow."""
    tb = RunLayout.at(run_dir).tb
    if not tb.is_dir():
        return []
    key = files_key(tb)
    cache_key = f"{tb}::{what}"
    with _lock:
        hit = _cache.get(cache_key)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = load(tb)
    with _lock:
        _cache[cache_key] = (key, value)
    return value


def _load_tags(tb: Path) -> list[str]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags: set[str] = set()
    for folder in sorted({f.parent for f in tb.rglob("events.out.tfevents.*")}):
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 1})  # the names, not the points
        try:
            acc.Reload()
        except Exception:  # a file being written or truncated: try again next poll
            continue
        tags.update(acc.Tags().get("scalars", []))
    return sorted(tags, key=lambda t: (t != LOSS_TAG, t))


def default_tag(tags: list[str]) -> str:
    """What a run's plot shows first: the training loss, else the first scalar it logged."""
    return LOSS_TAG if LOSS_TAG in tags or not tags else tags[0]


def _load(tb: Path, tag: str) -> list[tuple[int, float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    by_step: dict[int, float] = {}
    # the train loop writes into tb/ itself; hparams go to a subfolder. Read each folder
    # that holds event files, later files overriding earlier points of the same step.
    folders = sorted({f.parent for f in tb.rglob("events.out.tfevents.*")})
    for folder in folders:
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        try:
            acc.Reload()
        except Exception:  # a file being written or truncated: try again next poll
            continue
        if tag not in acc.Tags().get("scalars", []):
            continue
        for ev in acc.Scalars(tag):
            by_step[int(ev.step)] = float(ev.value)
    return sorted(by_step.items())
