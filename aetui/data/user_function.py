"""`--data py:PATH.py:FUNC`: your own images, from `FUNC()` in the job's process.

The function comes from the run's snapshot of its file (`aetui.code_snapshot`); it returns
uint8 images N x H x W x 3 or N x 3 x H x W, as a numpy array or a torch tensor. Anything
else fails the job with one line saying what came back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aetui.code_snapshot import CodeError, call, import_object, parse_ref, read_manifest
from aetui.run_layout import RunLayout

from .sources import DataSource

if TYPE_CHECKING:
    import torch


def load_function(src: DataSource, code_dir: Path | None) -> "torch.Tensor":
    """FUNC()'s images as a uint8 (N, 3, H, W) tensor; CodeError (one line) if not images."""
    import numpy as np
    import torch

    label = f"--data py:{parse_ref(src.path or '', '--data py:').short}"
    if code_dir is None:
        raise CodeError(f"{label}: no snapshot of its code to call it from")
    code_dir = Path(code_dir)
    manifest = read_manifest(RunLayout.at(code_dir.parent.parent).code_manifest(code_dir.name))
    fn = import_object(code_dir, manifest, "--data py:")
    if not callable(fn):
        raise CodeError(f"{label}: {manifest.get('name')} is a {type(fn).__name__}, not a function")
    out = call(fn, f"{label}: {manifest.get('name')}()")
    if isinstance(out, np.ndarray):
        if out.dtype != np.uint8:
            raise CodeError(f"{label} returned a {out.dtype} array {tuple(out.shape)}; expected uint8 "
                            f"N x H x W x 3 or N x 3 x H x W")
        out = torch.from_numpy(np.ascontiguousarray(out))
    elif isinstance(out, torch.Tensor):
        if out.dtype != torch.uint8:
            raise CodeError(f"{label} returned a {str(out.dtype).removeprefix('torch.')} tensor "
                            f"{tuple(out.shape)}; expected uint8 N x H x W x 3 or N x 3 x H x W")
        out = out.detach().cpu()
    else:
        raise CodeError(f"{label} returned a {type(out).__name__}; expected a uint8 numpy array or torch "
                        f"tensor N x H x W x 3 or N x 3 x H x W")
    shape = tuple(out.shape)
    if len(shape) != 4 or 3 not in (shape[1], shape[3]) or 0 in shape:
        raise CodeError(f"{label} returned uint8 {shape}; expected N x H x W x 3 or N x 3 x H x W")
    if shape[1] != 3:  # N x H x W x 3
        out = out.permute(0, 3, 1, 2)
    return out.contiguous()
