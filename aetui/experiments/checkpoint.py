"""Checkpoints: plain tensors and numbers in a dict, written atomically.

Loadable with `torch.load(weights_only=True)`; anything else is refused. The newest
`KEEP` step checkpoints are kept, plus `final.pt` when a run ends. A run resumes from the
newest of them that loads (`newest_loadable`): a torn or corrupted file costs the steps
since the one before it, not the job. A write that found the disk full raises an OSError
(ENOSPC) that names the checkpoint it was writing.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetui import run_layout
from aetui.experiments.disk_full import no_space

KEEP = 3
_STEP_FILE = run_layout.STEP_FILE
_TMP_FILE = re.compile(r"\..+\.\d+\.tmp")  # `save`'s temp file: .<name>.<pid>.tmp


class CheckpointError(ValueError):
    """A file that is missing or is not a plain aetui checkpoint."""


def save(path: Path, state: dict[str, Any]) -> None:
    """Write to a temp file, fsync it, rename over the target, fsync the folder."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # e.g. a full disk: leave no half-written file behind
        tmp.unlink(missing_ok=True)
        full = no_space(e)
        if full is not None:  # torch says "enforce fail at inline_container.cc"; say which file
            raise OSError(full.errno, full.strerror, str(path)) from e
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_step(ckpt_dir: Path, step: int, state: dict[str, Any]) -> Path:
    path = ckpt_dir / run_layout.step_name(step)
    save(path, state)
    for old in step_files(ckpt_dir)[:-KEEP]:
        old.unlink(missing_ok=True)
    return path


def step_files(ckpt_dir: Path) -> list[Path]:
    """Step checkpoints, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    files = [p for p in ckpt_dir.iterdir() if _STEP_FILE.fullmatch(p.name)]
    return sorted(files, key=lambda p: int(_STEP_FILE.fullmatch(p.name).group(1)))


def newest_first(ckpt_dir: Path) -> list[Path]:
    """What a run may resume from, newest first: `final.pt`, then the step checkpoints."""
    final = ckpt_dir / run_layout.FINAL
    return ([final] if final.is_file() else []) + step_files(ckpt_dir)[::-1]


@dataclass
class Found:
    """The checkpoint a run resumes from, and the newer ones that did not load (with why)."""

    path: Path
    state: dict[str, Any]
    skipped: list[str] = field(default_factory=list)

    def fallback_note(self) -> str | None:
        """One line that says which newer checkpoints were skipped, or None."""
        if not self.skipped:
            return None
        return f"{'; '.join(self.skipped)}; resumed from {self.path.name} (step {int(self.state['step'])}) instead"


def newest_loadable(ckpt_dir: Path, map_location: str = "cpu") -> Found | None:
    """The newest checkpoint that loads; None when there is none. When there are some and
    none loads, the newest one's CheckpointError (a refused file is never trained over)."""
    skipped: list[str] = []
    first_error: CheckpointError | None = None
    for path in newest_first(ckpt_dir):
        try:
            return Found(path, load(path, map_location=map_location), skipped)
        except CheckpointError as e:
            first_error = first_error or e
            skipped.append(_unloadable(e, path))
    if first_error is None:
        return None
    more = len(skipped) - 1
    if more:
        raise CheckpointError(f"{first_error}; {more} older checkpoint{'s' if more > 1 else ''} "
                              f"did not load either") from None
    raise first_error


def _unloadable(e: CheckpointError, path: Path) -> str:
    """The error, naming the file by its name rather than its full path."""
    text = str(e)
    return f"{path.name} {text[len(str(path)):].strip()}" if text.startswith(str(path)) else f"{path.name}: {text}"


def remove_leftovers(ckpt_dir: Path) -> list[Path]:
    """Remove the temp files of writes that never finished (a kill -9 mid-save); call it
    when a job starts, before it writes. Returns what it removed."""
    if not ckpt_dir.is_dir():
        return []
    removed = [p for p in ckpt_dir.iterdir() if _TMP_FILE.fullmatch(p.name) and p.is_file()]
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def load(path: Path, map_location: str = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely; CheckpointError with one line when it is not one of ours."""
    import torch

    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # any file torch cannot read as plain tensors (a text file raises IndexError)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path} is not a plain checkpoint (weights_only load refused it: {first[:160]})") from None
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path} is not an aetui checkpoint (no model state and config)")
    return state


def load_model(path: Path, device: str = "cpu", code_dir: Path | None = None):
    """Rebuild the model a checkpoint describes and load its weights; your own model from
    the snapshot in `code_dir` (the checkpoint holds weights only, never code)."""
    from aetui.models import build

    state = load(path, map_location=device)
    config = state["config"]
    model = build(config["name"], int(config["res"]), code_dir=code_dir, **dict(config["options"]))
    model.load_state_dict(state["model"])
    return model.to(device), state
