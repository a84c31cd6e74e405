"""A run's result images as albums: named, ordered lists of pictures.

Read generically from `Run.artifacts` (a name maps to a file, a list of files or a
folder, relative to the run folder); a training run's grids come from its `images/`
folder when the artifacts do not list them (also while it still runs). A command job's
pictures are the images it wrote to TensorBoard, an album per tag
(`aetui.tui.data.tb_images`); the built-in runners write theirs as files too, which are
shown instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetui import run_layout
from aetui.run_layout import RunLayout

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}
_STEP = re.compile(r"(\d+)(?=\.\w+$)")
# which album a run's page shows first, per kind (also its "latest result image")
PRIMARY = {"train": ("reconstructions",), "sweep": ("plot", "triplets"), "walk": ("filmstrip", "frames"),
           "probe": ("images",)}
ORDER = {"train": ("reconstructions", "denoising"), "sweep": ("triplets", "plot"),
         "walk": ("frames", "filmstrip", "gif"), "probe": ("images",)}
ANIMATED = {"frames", "gif"}
# kinds whose TensorBoard image summaries are their albums
TB_ALBUM_KINDS = ("command",)


@dataclass(frozen=True)
class Picture:
    """A picture in a file (`path`), or one inside TensorBoard event files: then `data` holds
    its encoded bytes and `path` is the run's TensorBoard folder."""

    path: Path
    title: str
    step: int | None = None
    data: bytes | None = None

    @property
    def source(self) -> "Path | Picture":
        """What `aetui.tui.data.images.load` decodes: the file, or this picture's bytes."""
        return self.path if self.data is None else self


@dataclass(frozen=True)
class Album:
    name: str
    pictures: tuple[Picture, ...]
    animated: bool = False

    def steps(self) -> list[int]:
        return [p.step for p in self.pictures if p.step is not None]

    @property
    def plays(self) -> bool:
        """Whether it plays as an animation (a walk's frames, a GIF's), not stills."""
        return self.animated and len(self.pictures) > 1

    def caption(self, picture: Picture) -> str:
        """The album's name and the picture's title, said once when they are the same (a
        walk's one `filmstrip.png` read `filmstrip · filmstrip`)."""
        return self.name if picture.title == self.name else f"{self.name} · {picture.title}"


@dataclass(frozen=True)
class Results:
    kind: str
    albums: tuple[Album, ...] = ()
    points: tuple[dict[str, Any], ...] = ()  # sweep results, one per level
    extra: dict[str, Any] = field(default_factory=dict)

    def album(self, name: str) -> Album | None:
        return next((a for a in self.albums if a.name == name), None)

    def primary(self) -> Album | None:
        for name in PRIMARY.get(self.kind, ()):
            album = self.album(name)
            if album and album.pictures:
                return album
        return next((a for a in self.albums if a.pictures), None)

    def latest(self) -> Picture | None:
        """The picture a run's page shows: the newest grid, the sweep plot, the filmstrip..."""
        album = self.primary()
        if album is None:
            return None
        return album.pictures[0] if self.kind == "probe" else album.pictures[-1]


def _step_of(path: Path) -> int | None:
    m = _STEP.search(path.name)
    return int(m.group(1)) if m else None


def _files(run_dir: Path, value: Any) -> list[Path]:
    values = value if isinstance(value, list) else [value]
    out: list[Path] = []
    for v in values:
        if not isinstance(v, str):
            continue
        p = Path(v) if Path(v).is_absolute() else run_dir / v
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.suffix.lower() in IMAGE_SUFFIXES:
            out.append(p)
    return out


def _pictures(paths: list[Path], titles: list[str] | None = None, stepped: bool = True) -> tuple[Picture, ...]:
    """Pictures of `paths`; `stepped`: the number in a file's name is a step (a sweep's
    `level_2.png` is the third level, not step 2)."""
    pics = []
    for n, p in enumerate(paths):
        step = _step_of(p) if stepped else None
        title = titles[n] if titles and n < len(titles) else (f"step {step}" if step is not None else p.stem)
        pics.append(Picture(path=p, title=title, step=step))
    return tuple(pics)


def _frame_titles(files: list[Path], results: dict[str, Any]) -> list[str]:
    """A walk's frames by walk step (`step 28/50`, as the filmstrip's columns say): the
    steps the walk recorded, else the number in each file's name."""
    steps = results.get("frame_steps")
    if not (isinstance(steps, list) and len(steps) == len(files)):
        steps = [_step_of(f) for f in files]
    total = results.get("steps")
    return [f"frame {n + 1}" if s is None else f"step {s}/{total}" if total else f"step {s}"
            for n, s in enumerate(steps)]


def load_results(kind: str, run_dir: str | Path | None, artifacts: dict[str, Any] | None,
                 results: dict[str, Any] | None) -> Results:
    """Albums of a run, from its artifacts and its folder."""
    artifacts, results = artifacts or {}, results or {}
    points = tuple(p for p in results.get("points", []) if isinstance(p, dict)) if kind == "sweep" else ()
    if run_dir is None:
        return Results(kind=kind, points=points)
    run = Path(run_dir)
    albums: dict[str, Album] = {}
    images_dir = RunLayout.at(run).images
    if images_dir.is_dir():
        for name, prefix in (("reconstructions", "recon_"), ("denoising", "denoise_")):
            files = sorted(images_dir.glob(f"{prefix}*.png"), key=lambda f: (_step_of(f) or 0, f.name))
            if files:
                albums[name] = Album(name, _pictures(files))
    for name, value in artifacts.items():
        if name in albums or name == "images":
            continue
        files = _files(run, value)
        if not files:
            continue
        titles = None
        if name == "triplets" and points and len(points) == len(files):
            titles = [f"level {p.get('level')}" for p in points]
        elif name == "frames":
            titles = _frame_titles(files, results)
        if name == "gif" and "frames" in artifacts:
            continue  # the frames album already plays it
        albums[name] = Album(name, _pictures(files, titles, stepped=kind != "sweep"), animated=name in ANIMATED)
    if kind in TB_ALBUM_KINDS:
        for name, album in tb_albums(run).items():
            albums.setdefault(name, album)
    if not albums:  # nothing recorded yet: any picture in the run folder
        files = sorted(f for f in run.glob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if files:
            albums["images"] = Album("images", _pictures(files))
    order = ORDER.get(kind, ())
    ranked = sorted(albums.values(), key=lambda a: (order.index(a.name) if a.name in order else len(order), a.name))
    return Results(kind=kind, albums=tuple(ranked), points=points)


def tb_albums(run_dir: Path) -> dict[str, Album]:
    """An album for each image tag of the run's TensorBoard files, its pictures by step."""
    from aetui.tui.data.tb_images import read_images

    tb = RunLayout.at(run_dir).tb
    albums = {}
    for tag, images in read_images(run_dir).items():
        pictures = tuple(Picture(path=tb, step=im.step, data=im.data,
                                 title=f"step {im.step}" + (f" ({im.index + 1}/{im.count})" if im.count > 1 else ""))
                         for im in images)
        albums[tag] = Album(tag, pictures)
    return albums


def checkpoints(run_dir: str | Path | None) -> list[tuple[str, int, float]]:
    """(name, bytes, mtime) of a run's checkpoints, in step order, final last."""
    if run_dir is None:
        return []
    folder = RunLayout.at(run_dir).checkpoints
    if not folder.is_dir():
        return []
    out = []
    for f in folder.glob("*.pt"):
        try:
            st = f.stat()
        except OSError:
            continue
        out.append((f.name, st.st_size, st.st_mtime))
    return sorted(out, key=lambda t: (t[0] == run_layout.FINAL, t[0]))
