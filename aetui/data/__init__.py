"""Image data sets for aetui: parse a ``--data`` string, then load it as uint8 tensors.

Importing this package stays cheap (no torch, no numpy): the CLI validates sources at
queue time with :func:`parse_source` and :func:`check_source`; only
:func:`load_dataset` pulls in the heavy libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .sources import (DataSource, check_source, cifar10_root, find_cifar10_batches,
                      parse_source, source_path)

if TYPE_CHECKING:
    import torch

__all__ = ["DataSource", "Dataset", "check_source", "load_dataset", "parse_source", "to_float"]


@dataclass
class Dataset:
    """Train and held-out images as uint8 ``(N, 3, res, res)`` tensors."""

    name: str  # canonical source string
    train: "torch.Tensor"
    heldout: "torch.Tensor"
    skipped: int = 0  # unreadable files left out (folder sources)


def load_dataset(text: str, *, res: int, seed: int = 0, home: Path, download: bool = False,
                 heldout_fraction: float = 0.1, code_dir: Path | None = None, progress=None) -> Dataset:
    """Load ``text`` (a ``--data`` string) at resolution ``res``.

    The held-out images never overlap the training ones: CIFAR-10 uses its test batch;
    ``builtin:N`` generates N training images plus ``heldout_fraction`` of N more from
    an independent random stream; folders, arrays and ``py:`` functions set aside a seeded
    random ``heldout_fraction`` of their images (at least one). A ``py:`` function is
    called from its snapshot in ``code_dir`` (a run's ``code/data``), never from the file
    its name points at.

    ``progress(done, total)``, if given, hears how far making ``builtin`` images got
    (they take a while at larger resolutions; other sources load in one go).
    """
    import torch

    if not 0.0 < heldout_fraction < 1.0:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction}")
    if res < 1:
        raise ValueError(f"resolution must be positive, got {res}")
    src = parse_source(text)
    if src.kind == "py":  # the snapshot is the code now: the original file may have changed
        from .files import fit_square
        from .user_function import load_function

        images = fit_square(load_function(src, code_dir), res)
        train, heldout = _split(images, heldout_fraction, seed, str(src))
        return Dataset(str(src), train, heldout)
    check_source(src, home=home, download=download)
    name = str(src)
    if src.kind == "builtin":
        from .builtin import default_count, generate

        count = src.count or default_count(res)
        held = max(1, round(count * heldout_fraction))
        total = count + held
        tell = (lambda offset: (lambda done: progress(offset + done, total))) if progress else (lambda offset: None)
        return Dataset(name, _nchw(generate(count, res, seed, progress=tell(0))),
                       _nchw(generate(held, res, seed, stream=1, progress=tell(count))))
    if src.kind == "cifar10":
        from . import cifar10
        from .files import fit_square

        root = cifar10_root(src, home)
        if download and find_cifar10_batches(root) is None:
            cifar10.download(root)
        train, heldout = cifar10.load(root)
        return Dataset(name, fit_square(torch.from_numpy(train), res),
                       fit_square(torch.from_numpy(heldout), res))
    from .files import load_folder, load_npy

    skipped = 0
    if src.kind == "folder":
        images, skipped = load_folder(source_path(src), res)
    else:
        images = load_npy(source_path(src), res)
    train, heldout = _split(images, heldout_fraction, seed, name)
    return Dataset(name, train, heldout, skipped)


def to_float(batch_uint8: "torch.Tensor") -> "torch.Tensor":
    """uint8 pixels to float32 in [0, 1], on the batch's device."""
    import torch

    return batch_uint8.to(torch.float32) / 255.0


def _nchw(images) -> "torch.Tensor":
    """uint8 numpy ``(N, H, W, 3)`` to a contiguous tensor ``(N, 3, H, W)``."""
    import torch

    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()


def _split(images: "torch.Tensor", fraction: float, seed: int,
           name: str) -> tuple["torch.Tensor", "torch.Tensor"]:
    """A seeded random ``fraction`` of ``images`` (at least one) held out; order kept."""
    import torch

    total = len(images)
    if total < 2:
        raise ValueError(f"{name} has {total} image(s); need at least 2 to hold one out")
    held = min(total - 1, max(1, round(total * fraction)))
    order = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    return (images[order[held:].sort().values].contiguous(),
            images[order[:held].sort().values].contiguous())
