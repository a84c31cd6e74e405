"""TensorBoard logging for runs: one writer per run folder, resumable without
duplicated points (events past the resume step are purged, from step 0 too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aetui.run_layout import RunLayout


def writer(run_dir: Path, *, start_step: int = 0):
    """A writer for a run that starts (or resumes) at `start_step`: points logged after
    that step by an earlier attempt are dropped, those up to it (saved with the
    checkpoint of that step) are kept. A run that starts over from step 0 (an attempt
    that failed before its first checkpoint, whose curve may be on disk) purges all."""
    from torch.utils.tensorboard import SummaryWriter

    tb = RunLayout.at(run_dir).tb
    _after_earlier_event_files(tb)
    return SummaryWriter(log_dir=str(tb), purge_step=start_step + 1)


def _after_earlier_event_files(tb: Path) -> None:
    """TensorBoard reads a run's event files in name order, and a name starts with the
    second it was made, then the host, pid and a per-process counter, compared as text. A
    writer made in the same second as an earlier attempt's may sort before it (counter 10
    before 9), and the earlier attempt's points would then outlive the purge. So a new
    writer waits for the next second when an event file of this second exists (at most a
    second, on an immediate retry)."""
    import time

    stamps = []
    for path in tb.glob("events.out.tfevents.*"):
        parts = path.name.split(".")
        if len(parts) > 3 and parts[3].isdigit():
            stamps.append(int(parts[3]))
    while stamps and int(time.time()) <= max(stamps):
        time.sleep(0.05)


def image_grid(images, nrow: int = 8):
    """A (3, H, W) grid in [0, 1] of a batch; unbounded model outputs are clamped for display."""
    import torch

    # torchvision's make_grid, written out: importing torchvision costs ~5 s (torch._dynamo)
    images = images.detach().float().clamp(0, 1).cpu()
    while images.dim() < 4:  # one image, or one grey image
        images = images.unsqueeze(0)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    n, c, h, w = images.shape
    if n == 1:
        return images[0]
    cols = min(nrow, n)
    rows = -(-n // cols)
    grid = torch.ones((c, rows * (h + 1) + 1, cols * (w + 1) + 1))
    for i in range(n):
        y, x = divmod(i, cols)
        grid[:, 1 + y * (h + 1):1 + y * (h + 1) + h, 1 + x * (w + 1):1 + x * (w + 1) + w] = images[i]
    return grid


def save_png(grid, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(arr).save(path)


def hparams(w, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """Hparams with their metrics, written into the run's own log folder."""
    clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()}
    w.add_hparams(clean, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")
