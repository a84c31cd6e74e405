"""TensorBoard logging for runs: one writer per run folder, resumable without
duplicated points (events past the resume step are purged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def writer(run_dir: Path, *, start_step: int = 0):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(run_dir / "tb"), purge_step=start_step if start_step > 0 else None)


def image_grid(images, nrow: int = 8):
    """A (3, H, W) grid in [0, 1] of a batch; unbounded model outputs are clamped for display."""
    from torchvision.utils import make_grid

    return make_grid(images.detach().float().clamp(0, 1).cpu(), nrow=nrow, padding=1, pad_value=1.0)


def save_png(grid, path: Path) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(arr).save(path)


def hparams(w, params: dict[str, Any], metrics: dict[str, float]) -> None:
    """Hparams with their metrics, written into the run's own log folder."""
    clean = {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in params.items()}
    w.add_hparams(clean, {f"hparam/{k}": v for k, v in metrics.items()}, run_name=".")
