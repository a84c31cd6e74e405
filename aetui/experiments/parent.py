"""The model an experiment (sweep, walk, probe) runs on, at run time: a finished
training job's final checkpoint, or an outside checkpoint file.

:func:`load_parent` loads the weights, :func:`fresh_model` builds the untrained control
with the same seed, and :func:`heldout_images` loads the held-out split of the data the
model was trained on (or of `--data`). What the model is, without torch, is
:class:`aetui.specs.ModelInfo`; checking a spec against it before queueing is
`aetui.jobs.submit_experiment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetui.run_layout import RunLayout
from aetui.specs.model_info import ModelInfo

if TYPE_CHECKING:
    import torch

    from aetui.experiments.context import JobContext


@dataclass
class Parent:
    model: "torch.nn.Module"
    info: ModelInfo
    checkpoint: Path
    code_dir: Path | None = None  # your own model: the snapshot it was built from


def code_dir(ctx: "JobContext", role: str) -> Path | None:
    """The snapshot of your own model or data code this job uses: its own (taken when it
    was queued: `--model`, `--data py:`, or the home's snapshot of an outside checkpoint),
    else its parent run's; None when neither has one."""
    for folder in (ctx.run_dir, ctx.parent_run_dir):
        if folder is not None and RunLayout.at(folder).code_manifest(role).is_file():
            return RunLayout.at(folder).code_dir(role)
    return None


def checkpoint_path(spec: Any, ctx: "JobContext") -> Path:
    if spec.checkpoint:
        return Path(spec.checkpoint)
    if ctx.parent_run_dir is None:
        raise ValueError("this job has neither a parent training run nor a checkpoint file")
    return RunLayout.at(ctx.parent_run_dir).final_checkpoint


def load_parent(spec: Any, ctx: "JobContext") -> Parent:
    """The trained model on the job's device, with what its checkpoint says about it."""
    from aetui.experiments.checkpoint import load_model

    path = checkpoint_path(spec, ctx)
    code = code_dir(ctx, "model")
    ctx.phase("loading the model")
    model, state = load_model(path, device=ctx.device, code_dir=code)
    source = spec.checkpoint or f"job {ctx.parent_run_dir.name if ctx.parent_run_dir else '?'}"
    return Parent(model=model, info=ModelInfo.from_state(state, source), checkpoint=path, code_dir=code)


def fresh_model(info: ModelInfo, device: str, code: Path | None = None) -> "torch.nn.Module":
    """The untrained control: the same architecture initialised with the training seed.

    The global RNG is restored afterwards, so building the control changes no other draw.
    """
    import torch

    from aetui.models import build

    saved = torch.get_rng_state()
    try:
        torch.manual_seed(info.seed)
        model = build(info.model, info.res, code_dir=code, **info.options)
    finally:
        torch.set_rng_state(saved)
    return model.to(device)


def heldout_images(spec: Any, info: ModelInfo, ctx: "JobContext", count: int) -> "torch.Tensor":
    """Up to `count` held-out images (float in [0, 1], on the job's device), in a fixed order:
    the split the model never trained on (same data, resolution, seed and fraction)."""
    from aetui.data import load_dataset, to_float

    data = spec.data or info.data
    if data is None:
        raise ValueError(f"{info.source} has no training spec to take the data from; give --data")
    ctx.phase("preparing data")
    dataset = load_dataset(data, res=info.res, seed=info.seed, home=ctx.home.path,
                           download=info.download and data == info.data,
                           heldout_fraction=info.heldout_fraction, code_dir=code_dir(ctx, "data"),
                           progress=lambda done, total: ctx.phase("preparing data", done, total))
    return to_float(dataset.heldout[:count].to(ctx.device))
