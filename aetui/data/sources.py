"""Parse and check ``--data`` strings.

Stdlib only: the CLI imports this at queue time to reject bad input quickly, long
before a worker pays for importing torch or numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aetui.defaults import LIMITS
from aetui.errors import UserError

KINDS = ("builtin", "cifar10", "folder", "npy", "py")
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
CIFAR10_DIRNAME = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
_NPY_MAGIC = b"\x93NUMPY"
# The resolutions `builtin` paints at (`aetui.data.builtin.generate`). Every other source
# is resized to any --res (`aetui.data.files.fit_square`).
BUILTIN_RESOLUTIONS = (32, 64, 128, 256, 512)


@dataclass(frozen=True)
class DataSource:
    """A parsed ``--data`` value; ``str()`` gives back the canonical text."""

    kind: str
    path: str | None = None
    count: int | None = None

    def __str__(self) -> str:
        if self.count is not None:
            return f"{self.kind}:{self.count}"
        if self.path is not None:
            return f"{self.kind}:{self.path}"
        return self.kind


def parse_source(text: str) -> DataSource:
    """Parse ``builtin[:N]``, ``cifar10[:PATH]``, ``folder:PATH``, ``npy:PATH`` or
    ``py:PATH.py:FUNC`` (your own function; its file path made absolute)."""
    if "\0" in text:
        raise UserError("--data: a NUL character cannot be part of a path or a name")
    kind, sep, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    rest = rest.strip()
    if kind not in KINDS:
        raise UserError(f"unknown data source {text.strip()!r}: expected one of "
                         "builtin[:N], cifar10[:PATH], folder:PATH, npy:PATH, py:PATH.py:FUNC")
    if kind == "builtin":
        if not sep:
            return DataSource("builtin")
        try:
            count = int(rest) if len(rest) <= 20 else 0
        except ValueError:
            count = 0
        if not 1 <= count <= LIMITS["builtin_images"]:
            raise UserError(f"bad image count in {text.strip()[:40]!r}: "
                             f"builtin:N needs a whole number N in 1..{LIMITS['builtin_images']}")
        return DataSource("builtin", count=count)
    if not rest:
        if kind == "cifar10" and not sep:
            return DataSource("cifar10")
        raise UserError(f"missing path in {text.strip()!r}: write {kind}:PATH" + (".py:FUNC" if kind == "py" else ""))
    if kind == "py":
        from aetui.code_snapshot import parse_ref

        return DataSource("py", path=str(parse_ref(rest, "--data py:")))
    if len(rest) > LIMITS["path_chars"] or any(len(part.encode("utf-8", "surrogatepass")) > 255 for part in rest.split("/")):
        raise UserError(f"{kind}: path too long ({len(rest)} characters, {rest[:40]}...): "
                        f"at most {LIMITS['path_chars']}, and 255 bytes a name")
    return DataSource(kind, path=rest)


def resolutions(src: DataSource) -> tuple[int, ...] | None:
    """The resolutions ``src`` can make, or None when any is fine (it is resized)."""
    return BUILTIN_RESOLUTIONS if src.kind == "builtin" else None


def check_res(src: DataSource, res: int) -> None:
    """UserError (one line) if ``src`` cannot make images at ``res``: caught when a job is
    queued (no data made), not when its worker first asks for the images."""
    allowed = resolutions(src)
    if allowed is None or res in allowed:
        return
    listed = ", ".join(map(str, allowed[:-1])) + f" or {allowed[-1]}"
    raise UserError(f"--data {src} makes images at res {listed}, not {res}; pick one of those, "
                    "or a source that is resized to any --res (folder:, npy:, cifar10, py:)")


def source_path(src: DataSource) -> Path:
    """The user's path with ``~`` expanded."""
    if src.path is None:
        raise ValueError(f"data source {src} has no path")
    return Path(src.path).expanduser()


def cifar10_root(src: DataSource, home: Path) -> Path:
    """Where CIFAR-10 lives (or will be downloaded): the given path or ``home/data/cifar10``."""
    return source_path(src) if src.path is not None else Path(home) / "data" / "cifar10"


def find_cifar10_batches(root: Path) -> Path | None:
    """The folder holding the six pickles: ``root/cifar-10-batches-py`` or ``root`` itself."""
    for candidate in (root / CIFAR10_DIRNAME, root):
        if all((candidate / name).is_file()
               for name in (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)):
            return candidate
    return None


def iter_image_files(folder: Path):
    """Image files under ``folder`` (recursive, by suffix, unsorted)."""
    return (p for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def any_readable_image(folder: Path, *, limit: int = 64) -> bool | None:
    """Whether an image under ``folder`` decodes, looking at no more than ``limit`` files:
    True at the first that does, False when every file was tried and none did, None when
    the limit ran out first (undecided; loading the data decides). Imports Pillow, so
    only call it where a check may cost that (queue time, a few files)."""
    from PIL import Image

    for tried, path in enumerate(iter_image_files(folder)):
        if tried == limit:
            return None
        try:
            with Image.open(path) as im:
                im.draft("RGB", (64, 64))  # JPEG: decode at a reduced scale
                im.load()
            return True
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            continue
    return False


def check_source(src: DataSource, *, home: Path, download: bool = False) -> None:
    """Raise ``UserError`` (one line) if ``src`` cannot be loaded as it stands."""
    if src.kind == "builtin":
        return
    if src.kind == "py":  # the file exists and defines the function (read, not imported)
        from aetui.code_snapshot import check, parse_ref

        check(parse_ref(src.path or "", "--data py:"), "--data py:")
        return
    if src.kind == "cifar10":
        root = cifar10_root(src, home)
        if download or find_cifar10_batches(root) is not None:
            return
        raise UserError(f"CIFAR-10 not found in {root} (expected {CIFAR10_DIRNAME}/ with "
                         "data_batch_1..5 and test_batch): pass --download or give "
                         "cifar10:PATH")
    try:
        _check_path_source(src, source_path(src))
    except OSError as e:  # a path the system cannot look at (permissions, a loop of links)
        raise UserError(f"cannot read {src}: {e.strerror or e}") from None


def _check_path_source(src: DataSource, path: Path) -> None:
    if src.kind == "folder":
        if not path.exists():
            raise UserError(f"image folder {path} does not exist")
        if not path.is_dir():
            raise UserError(f"{path} is not a folder")
        if next(iter_image_files(path), None) is None:
            suffixes = " ".join(sorted(IMAGE_SUFFIXES))
            raise UserError(f"no image files ({suffixes}) under {path}")
        return
    if src.kind == "npy":
        if path.suffix.lower() != ".npy":
            raise UserError(f"{path} is not a .npy file")
        if not path.is_file():
            raise UserError(f"npy file {path} does not exist")
        check_npy_header(path)
        return
    raise ValueError(f"unknown data source kind {src.kind!r}")


def check_npy_header(path: Path) -> None:
    """What `aetui.data.files.load_npy` would refuse, read from the header alone (no full
    load, never a pickle): uint8 N x H x W x C with C = 3 or 1, N >= 1, and as many bytes
    in the file as the header promises. UserError (one line) if not."""
    with path.open("rb") as fh:
        if fh.read(len(_NPY_MAGIC)) != _NPY_MAGIC:
            raise UserError(f"{path} is not a .npy file (bad header)")
        from numpy.lib import format as npy_format  # only here: numpy costs a tenth of a second

        fh.seek(0)
        try:
            version = npy_format.read_magic(fh)
            read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
            shape, _fortran, dtype = read(fh, max_header_size=10_000)
        except (ValueError, SyntaxError, TypeError, OverflowError, MemoryError) as e:
            raise UserError(f"{path} is not a readable .npy file ({str(e).splitlines()[0][:80]})") from None
        offset = fh.tell()
    if dtype.hasobject:
        raise UserError(f"{path} holds Python objects (a pickle), which aetui never loads; save a uint8 array")
    if dtype.kind != "u" or dtype.itemsize != 1 or len(shape) != 4 or shape[-1] not in (1, 3):
        raise UserError(f"{path} holds {dtype} {tuple(shape)}; expected uint8 N x H x W x C with C = 3 or 1")
    if 0 in shape:
        raise UserError(f"{path} holds no images (shape {tuple(shape)})")
    if max(shape[1:3]) > LIMITS["image_side"]:
        raise UserError(f"{path} holds {shape[1]}x{shape[2]} images; at most {LIMITS['image_side']} pixels a side")
    size = path.stat().st_size
    needed = offset + shape[0] * shape[1] * shape[2] * shape[3]
    if size < needed:
        raise UserError(f"{path} is truncated: its header promises {needed} bytes, the file has {size}")
