"""Loss curves from a run's TensorBoard event files, cached per run.

A run's curve is re-read only when its event files grew (their total size is the cache
key), so polling a finished run costs one `stat` per file.
"""

from __future__ import annotations

import threading
from pathlib import Path

from aetui.run_layout import RunLayout

LOSS_TAG = "train/loss"
_cache: dict[str, tuple[tuple, list[tuple[int, float]]]] = {}
_lock = threading.Lock()


def _files_key(tb: Path) -> tuple:
    try:
        files = sorted(tb.rglob("events.out.tfevents.*"))
        return tuple((str(f), f.stat().st_size) for f in files)
    except OSError:
        return ()


def read_scalars(run_dir: str | Path, tag: str = LOSS_TAG) -> list[tuple[int, float]]:
    """(step, value) points of one scalar of a run, in step order; [] when there are none."""
    tb = RunLayout.at(run_dir).tb
    if not tb.is_dir():
        return []
    key = _files_key(tb)
    cache_key = f"{tb}::{tag}"
    with _lock:
        hit = _cache.get(cache_key)
    if hit is not None and hit[0] == key:
        return hit[1]
    points = _load(tb, tag)
    with _lock:
        _cache[cache_key] = (key, points)
    return points


def scalar_tags(run_dir: str | Path) -> list[str]:
    """Every scalar tag a run's TensorBoard files hold, sorted: a built-in training's
    `train/loss` and the rest, or whatever a command job wrote under `$AETUI_TB_DIR`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = RunLayout.at(run_dir).tb
    tags: set[str] = set()
    for folder in sorted({f.parent for f in tb.rglob("events.out.tfevents.*")}) if tb.is_dir() else ():
        acc = EventAccumulator(str(folder), size_guidance={"scalars": 1})
        try:
            acc.Reload()
        except Exception:  # a file being written or truncated
            continue
        tags.update(acc.Tags().get("scalars", []))
    return sorted(tags)


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
