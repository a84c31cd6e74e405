"""CIFAR-10 from the standard python-pickle batches, read without torchvision's dataset class.

Train = ``data_batch_1..5`` (50,000 images), held-out = ``test_batch`` (10,000).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .sources import (CIFAR10_DIRNAME, CIFAR10_TEST_FILE, CIFAR10_TRAIN_FILES,
                      find_cifar10_batches)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"

# A batch holds only a dict of bytes, lists and numpy arrays. Allowing just what
# rebuilds those keeps a `cifar10:PATH` pointing at a hostile pickle from running code.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def download(root: Path, *, url: str = CIFAR10_URL, md5: str = CIFAR10_MD5) -> None:
    """Fetch and unpack the archive into ``root`` (giving ``root/cifar-10-batches-py``)."""
    from torchvision.datasets.utils import download_and_extract_archive

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        download_and_extract_archive(url, download_root=str(root), md5=md5)
    except (OSError, RuntimeError) as exc:  # URLError is an OSError; a bad md5 a RuntimeError
        raise ValueError(f"could not download CIFAR-10 from {url}: {exc}") from exc
    if find_cifar10_batches(root) is None:
        raise ValueError(f"the archive from {url} did not contain {CIFAR10_DIRNAME}/ "
                         "with data_batch_1..5 and test_batch")


def read_batch(path: Path) -> np.ndarray:
    """One batch file as uint8 ``(N, 3, 32, 32)``."""
    try:
        with open(path, "rb") as fh:
            batch = _BatchUnpickler(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        return data.reshape(-1, 3, 32, 32)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path} is not a CIFAR-10 batch ({exc})") from None


def load(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(train, heldout)`` as uint8 ``(N, 3, 32, 32)`` from the batches under ``root``."""
    folder = find_cifar10_batches(Path(root))
    if folder is None:
        raise ValueError(f"CIFAR-10 not found in {root}: pass --download or give cifar10:PATH")
    train = np.concatenate([read_batch(folder / name) for name in CIFAR10_TRAIN_FILES])
    return train, read_batch(folder / CIFAR10_TEST_FILE)
