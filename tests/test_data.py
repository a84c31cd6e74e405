"""aetui.data: source strings, checks, the builtin generator and every loader (tiny sizes)."""

from __future__ import annotations

import hashlib
import http.server
import io
import pickle
import subprocess
import sys
import tarfile
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aetui.data import DataSource, check_source, load_dataset, parse_source, to_float
from aetui.data import cifar10
from aetui.data.builtin import RESOLUTIONS, default_count, generate
from aetui.data.files import load_folder, load_npy

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ parse / check

@pytest.mark.parametrize("text, expected", [
    ("builtin", DataSource("builtin")),
    ("builtin:64", DataSource("builtin", count=64)),
    ("cifar10", DataSource("cifar10")),
    ("cifar10:/data/c10", DataSource("cifar10", path="/data/c10")),
    ("folder:/x/y z", DataSource("folder", path="/x/y z")),
    ("npy:churches.npy", DataSource("npy", path="churches.npy")),
])
def test_parse_round_trip(text: str, expected: DataSource) -> None:
    assert parse_source(text) == expected
    assert str(expected) == text
    assert parse_source(f"  {text} ") == expected


def test_parse_kind_is_case_insensitive() -> None:
    assert parse_source("Builtin:8") == DataSource("builtin", count=8)


@pytest.mark.parametrize("text, words", [
    ("imagenet", ["unknown data source", "builtin", "cifar10", "folder", "npy"]),
    ("folder", ["missing path", "folder:PATH"]),
    ("folder:", ["missing path"]),
    ("npy:  ", ["missing path"]),
    ("builtin:abc", ["bad image count"]),
    ("builtin:0", ["bad image count"]),
    ("builtin:-3", ["bad image count"]),
])
def test_parse_errors(text: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        parse_source(text)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


def _check_error(text: str, home: Path, **kw) -> str:
    with pytest.raises(ValueError) as err:
        check_source(parse_source(text), home=home, **kw)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_check_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / "fake.npy").write_bytes(b"not numpy")
    assert "does not exist" in _check_error(f"folder:{tmp_path / 'nope'}", tmp_path)
    assert "not a folder" in _check_error(f"folder:{tmp_path / 'notes.txt'}", tmp_path)
    assert "no image files" in _check_error(f"folder:{tmp_path / 'empty'}", tmp_path)
    assert "does not exist" in _check_error(f"npy:{tmp_path / 'missing.npy'}", tmp_path)
    assert "not a .npy file" in _check_error(f"npy:{tmp_path / 'notes.txt'}", tmp_path)
    assert "not a .npy file" in _check_error(f"npy:{tmp_path / 'fake.npy'}", tmp_path)
    message = _check_error("cifar10", tmp_path)
    assert "--download" in message and "cifar10:PATH" in message
    assert str(tmp_path / "data" / "cifar10") in message
    check_source(parse_source("cifar10"), home=tmp_path, download=True)  # fetched at load time
    check_source(parse_source("builtin:3"), home=tmp_path)
    with pytest.raises(ValueError, match="--download"):
        load_dataset("cifar10", res=32, home=tmp_path)


def test_folder_with_only_a_corrupt_png(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    check_source(parse_source(f"folder:{tmp_path}"), home=tmp_path)  # it looks like an image
    with pytest.raises(ValueError, match=r"no readable images in .* \(1 skipped\)"):
        load_dataset(f"folder:{tmp_path}", res=32, home=tmp_path)


# ------------------------------------------------------------------------ builtin

def test_builtin_deterministic_and_seeded() -> None:
    a = generate(6, 32, seed=0)
    assert a.dtype == np.uint8 and a.shape == (6, 32, 32, 3)
    assert np.array_equal(a, generate(6, 32, seed=0))
    assert not np.array_equal(a, generate(6, 32, seed=1))
    assert not np.array_equal(a, generate(6, 32, seed=0, stream=1))


def test_builtin_looks_like_structured_images() -> None:
    x = generate(24, 64, seed=3).astype(np.float64) / 255.0
    for img in x:
        grey = img.mean(axis=-1)
        horizontal = np.corrcoef(grey[:, :-1].ravel(), grey[:, 1:].ravel())[0, 1]
        vertical = np.corrcoef(grey[:-1].ravel(), grey[1:].ravel())[0, 1]
        assert horizontal > 0.8 and vertical > 0.8  # smooth, unlike uniform noise
        assert img.std() > 0.03  # not a flat colour
    flat = x.reshape(len(x), -1)
    distance = np.abs(flat[:, None] - flat[None]).mean(axis=-1)
    assert distance[~np.eye(len(x), dtype=bool)].min() > 0.02  # no two alike


@pytest.mark.parametrize("res", RESOLUTIONS)
def test_builtin_every_resolution(res: int) -> None:
    assert generate(1, res, seed=0).shape == (1, res, res, 3)


def test_builtin_defaults_and_bad_resolution() -> None:
    assert [default_count(r) for r in RESOLUTIONS] == [2048, 2048, 512, 256, 128]
    for res in (16, 48, 1024):
        with pytest.raises(ValueError, match="power-of-two"):
            generate(1, res, seed=0)


def test_builtin_dataset_split(tmp_path: Path) -> None:
    data = load_dataset("builtin:20", res=32, seed=5, home=tmp_path)
    assert data.name == "builtin:20" and data.skipped == 0
    assert data.train.shape == (20, 3, 32, 32) and data.heldout.shape == (2, 3, 32, 32)
    assert data.train.dtype == torch.uint8 and data.train.is_contiguous()
    train = data.train.flatten(1)
    for image in data.heldout.flatten(1):
        assert not (train == image).all(dim=1).any()
    assert torch.equal(load_dataset("builtin:20", res=32, seed=5, home=tmp_path).train, data.train)
    x = to_float(data.heldout)
    assert x.dtype == torch.float32 and 0.0 <= x.min() and x.max() <= 1.0


# ------------------------------------------------------------------ folder and npy

def _write_images(folder: Path) -> None:
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (50, 20), dtype=np.uint8)).save(folder / "sub" / "b.PNG")
    Image.fromarray(rng.integers(0, 255, (64, 64, 4), dtype=np.uint8)).save(folder / "c.png")
    Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(folder / "d.jpg")
    wide = np.zeros((32, 96, 3), np.uint8)
    wide[:, :, 0] = 255
    wide[:, 32:64] = (0, 0, 255)  # only the centre square is blue
    Image.fromarray(wide).save(folder / "e_wide.png")
    (folder / "sub" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (folder / "readme.txt").write_text("not an image")


def test_folder_loader(tmp_path: Path) -> None:
    _write_images(tmp_path)
    images, skipped = load_folder(tmp_path, 32)
    assert skipped == 1
    assert images.shape == (5, 3, 32, 32) and images.dtype == torch.uint8
    centre = images[3]  # sorted: a, c, d, e_wide, sub/b
    assert (centre[2] == 255).all() and (centre[:2] == 0).all()

    data = load_dataset(f"folder:{tmp_path}", res=32, home=tmp_path, heldout_fraction=0.3)
    assert data.skipped == 1 and data.name == f"folder:{tmp_path}"
    assert len(data.train) == 3 and len(data.heldout) == 2


def test_npy_loader_orientation_and_grey(tmp_path: Path) -> None:
    arr = np.zeros((2, 32, 32, 3), np.uint8)
    arr[:, 0, 0] = (255, 0, 0)  # top left red
    arr[:, 0, -1] = (0, 255, 0)  # top right green
    np.save(tmp_path / "rgb.npy", arr)
    x = load_npy(tmp_path / "rgb.npy", 32)
    assert x.shape == (2, 3, 32, 32)
    assert x[0, :, 0, 0].tolist() == [255, 0, 0] and x[0, :, 0, -1].tolist() == [0, 255, 0]

    grey = np.arange(3 * 20 * 40, dtype=np.uint64).reshape(3, 20, 40, 1).astype(np.uint8)
    np.save(tmp_path / "grey.npy", grey)
    y = load_npy(tmp_path / "grey.npy", 16)
    assert y.shape == (3, 3, 16, 16) and y.is_contiguous()
    assert torch.equal(y[:, 0], y[:, 2])

    np.save(tmp_path / "float.npy", arr.astype(np.float32))
    with pytest.raises(ValueError, match="expected uint8"):
        load_npy(tmp_path / "float.npy", 32)


def test_npy_heldout_is_disjoint_and_seeded(tmp_path: Path) -> None:
    arr = np.broadcast_to(np.arange(30, dtype=np.uint8)[:, None, None, None], (30, 8, 8, 3))
    np.save(tmp_path / "ids.npy", np.ascontiguousarray(arr))
    data = load_dataset(f"npy:{tmp_path / 'ids.npy'}", res=8, seed=1, home=tmp_path)
    train = set(data.train[:, 0, 0, 0].tolist())
    held = set(data.heldout[:, 0, 0, 0].tolist())
    assert len(held) == 3 and len(train) == 27
    assert not train & held and train | held == set(range(30))
    again = load_dataset(f"npy:{tmp_path / 'ids.npy'}", res=8, seed=1, home=tmp_path)
    assert torch.equal(again.heldout, data.heldout)
    other = load_dataset(f"npy:{tmp_path / 'ids.npy'}", res=8, seed=2, home=tmp_path)
    assert not torch.equal(other.heldout, data.heldout)


# ------------------------------------------------------------------------ cifar10

def _fake_cifar_archive(folder: Path, per_batch: int = 3) -> Path:
    """A cifar-10-python.tar.gz like the real one, with tiny batches; image i is all i."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for b, name in enumerate(names):
            ids = np.arange(b * per_batch, (b + 1) * per_batch, dtype=np.uint8)
            batch = {b"data": np.repeat(ids[:, None], 3072, axis=1), b"labels": list(range(per_batch))}
            blob = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    archive = folder / "cifar-10-python.tar.gz"
    archive.write_bytes(buffer.getvalue())
    return archive


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_cifar10_download_and_load(tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    archive = _fake_cifar_archive(served)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), partial(_QuietHandler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cifar-10-python.tar.gz"
        root = tmp_path / "c10"
        with pytest.raises(ValueError, match="could not download"):
            cifar10.download(root, url=url, md5="0" * 32)
        cifar10.download(root, url=url, md5=md5)
    finally:
        server.shutdown()
        thread.join()
    data = load_dataset(f"cifar10:{root}", res=32, home=tmp_path)
    assert data.train.shape == (15, 3, 32, 32) and data.heldout.shape == (3, 3, 32, 32)
    assert data.train[:, 0, 0, 0].tolist() == list(range(15))
    assert data.heldout[:, 2, 31, 31].tolist() == [15, 16, 17]
    bigger = load_dataset(f"cifar10:{root}", res=64, home=tmp_path)
    assert bigger.train.shape == (15, 3, 64, 64)


def test_cifar10_refuses_foreign_pickles(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil()}))
    with pytest.raises(ValueError, match="not a CIFAR-10 batch"):
        cifar10.read_batch(path)


# ------------------------------------------------------------------------ imports

def test_import_is_light() -> None:
    code = ("import sys, aetui.data, aetui.corruptions; "
            "print(sorted(m for m in ('torch', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"
