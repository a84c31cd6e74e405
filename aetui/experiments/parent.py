"""The model an experiment (sweep, walk, probe) runs on: a finished training job's final
checkpoint, or an outside checkpoint file.

Two halves. At queue time, torch-free for a job id: :func:`describe_target` tells which
model a job id or a checkpoint path holds (family, resolution, options, data), so a spec
can be checked against it before anything is queued (:func:`submit_experiment`). At run
time, :func:`load_parent` loads the weights, :func:`fresh_model` builds the untrained
control with the same seed, and :func:`heldout_images` loads the held-out split of the
data the model was trained on (or of `--data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetui.errors import UserError

if TYPE_CHECKING:
    import torch

    from aetui.experiments.context import JobContext
    from aetui.home import Home


@dataclass(frozen=True)
class ModelInfo:
    """What an experiment needs to know about the model it runs on."""

    source: str  # "job 3" or the checkpoint path, for messages
    model: str
    res: int
    options: dict[str, Any] = field(default_factory=dict)
    data: str | None = None  # None: an outside checkpoint without its training spec
    seed: int = 0
    heldout_fraction: float = 0.1
    download: bool = False

    @classmethod
    def from_state(cls, state: dict[str, Any], source: str) -> "ModelInfo":
        """From a checkpoint's `config` and, where it has one, its training `spec`."""
        config, spec = state["config"], state.get("spec") or {}
        return cls(source=source, model=str(config["name"]), res=int(config["res"]),
                   options=dict(config.get("options") or {}), data=spec.get("data"),
                   seed=int(spec.get("seed", 0)), heldout_fraction=float(spec.get("heldout_fraction", 0.1)),
                   download=bool(spec.get("download", False)))

    @classmethod
    def from_train_spec(cls, spec: dict[str, Any], source: str) -> "ModelInfo":
        return cls.from_state({"config": {"name": spec["model"], "res": spec["res"],
                                          "options": spec.get("options") or {}}, "spec": spec}, source)


def layer_names(model: str, options: dict[str, Any]) -> list[str]:
    """The names `probe_layers()` gives for this model, in forward order, without torch.

    Kept equal to the models' own lists by a test.
    """
    from aetui.models.catalog import defaults

    full = {**defaults(model), **options}
    if model == "mlp":
        return ["input", *(f"hidden{i}" for i in range(1, full["hidden_layers"] + 1)), "output"]
    depth = full["depth"]
    if model == "unet":
        downs = [f"down{i}" for i in range(1, depth + (1 if full.get("bottleneck") else 0))]
        return ["inc", *downs, "bottleneck", *(f"up{i}" for i in range(1, depth + 1)), "output"]
    return ["init", *(f"enc{i}" for i in range(1, depth + 1)), "mid",
            *(f"dec{i}" for i in range(1, depth + 1)), "output"]


# ---- queue time -------------------------------------------------------------------------

def describe_job(home: "Home", job_id: int) -> ModelInfo:
    """The model of a finished training job, from its spec in the store (no torch)."""
    from store.queries import get_job
    from store.queue import QueueError

    try:
        job = get_job(home.db, job_id)
    except QueueError as e:
        raise UserError(str(e)) from None
    if job.kind != "train":
        raise UserError(f"job {job_id} is a {job.kind} job, not a training run")
    if job.status != "done":
        raise UserError(f"job {job_id} is {job.status}, not a finished training run")
    return ModelInfo.from_train_spec(job.spec, f"job {job_id}")


def describe_checkpoint(path: Path) -> ModelInfo:
    """The model of a checkpoint file; UserError unless it is a plain aetui checkpoint."""
    from aetui.experiments.checkpoint import CheckpointError, load
    from aetui.models.catalog import validate

    try:
        state = load(path)
    except CheckpointError as e:
        raise UserError(str(e)) from None
    except Exception as e:  # torch.load fails in many ways on files that are not checkpoints
        raise UserError(f"{path} is not a plain checkpoint (weights_only load failed: {type(e).__name__})") from None
    try:
        info = ModelInfo.from_state(state, str(path))
        validate(info.model, info.res, **info.options)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path} is not an aetui checkpoint (bad model config: {e})") from None
    return info


def describe_target(home: "Home", target: str) -> tuple[ModelInfo, int | None, str | None]:
    """(model, parent job id, checkpoint path) of a job id or a checkpoint file path."""
    text = target.strip()
    if text.isdigit():
        return describe_job(home, int(text)), int(text), None
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"{target!r} is neither a job id nor an existing checkpoint file")
    if not path.is_file():
        raise UserError(f"{target} is not a checkpoint file")
    path = path.resolve()
    return describe_checkpoint(path), None, str(path)


def submit_experiment(home: "Home", kind: str, fields: dict[str, Any], target: str, *,
                      priority: int = 0, device: str = "auto") -> Any:
    """Validate a sweep/walk/probe against the model it runs on, then queue it.

    `target` is a finished training job's id (it becomes the job's parent) or a
    checkpoint file (an outside model: no parent, the spec holds the path). Nothing is
    queued unless every check passes.
    """
    from aetui.jobs import submit
    from aetui.specs import parse_spec

    info, parent, checkpoint = describe_target(home, target)
    data = {k: v for k, v in fields.items() if v is not None}
    if checkpoint is not None:
        data["checkpoint"] = checkpoint
    spec = parse_spec(kind, data)
    try:
        spec.check_model(info)
    except ValueError as e:
        raise UserError(str(e)) from None
    (job,) = submit(home, kind, [spec.model_dump(mode="json")], priority=priority, device=device, parent=parent)
    return job


# ---- run time ---------------------------------------------------------------------------

@dataclass
class Parent:
    model: "torch.nn.Module"
    info: ModelInfo
    checkpoint: Path


def checkpoint_path(spec: Any, ctx: "JobContext") -> Path:
    if spec.checkpoint:
        return Path(spec.checkpoint)
    if ctx.parent_run_dir is None:
        raise ValueError("this job has neither a parent training run nor a checkpoint file")
    return Path(ctx.parent_run_dir) / "checkpoints" / "final.pt"


def load_parent(spec: Any, ctx: "JobContext") -> Parent:
    """The trained model on the job's device, with what its checkpoint says about it."""
    from aetui.experiments.checkpoint import load_model

    path = checkpoint_path(spec, ctx)
    model, state = load_model(path, device=ctx.device)
    source = spec.checkpoint or f"job {ctx.parent_run_dir.name if ctx.parent_run_dir else '?'}"
    return Parent(model=model, info=ModelInfo.from_state(state, source), checkpoint=path)


def fresh_model(info: ModelInfo, device: str) -> "torch.nn.Module":
    """The untrained control: the same architecture initialised with the training seed.

    The global RNG is restored afterwards, so building the control changes no other draw.
    """
    import torch

    from aetui.models import build

    saved = torch.get_rng_state()
    try:
        torch.manual_seed(info.seed)
        model = build(info.model, info.res, **info.options)
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
    dataset = load_dataset(data, res=info.res, seed=info.seed, home=ctx.home.path,
                           download=info.download and data == info.data,
                           heldout_fraction=info.heldout_fraction)
    return to_float(dataset.heldout[:count].to(ctx.device))
