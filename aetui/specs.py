"""Job specs: validated once here, shared by the CLI, the dashboard and the worker.

Pure pydantic + the torch-free catalogs (models, data, corruptions): validating a spec
never imports torch. A spec round-trips through JSON in the store (`Job.spec`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aetui.errors import UserError


class TrainSpec(BaseModel):
    """A training job: copy task (MSE) on one dataset with one model."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    kind: Literal["train"] = "train"
    model: str
    res: int
    options: dict[str, Any] = Field(default_factory=dict, description="model options (see `aetui.models`)")
    data: str = "builtin"
    download: bool = False
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-4, gt=0)
    seed: int = 0
    train_noise: str | None = Field(None, description="corrupt inputs while training (a denoising control)")
    checkpoint_every: int = Field(500, ge=1)
    checkpoint_minutes: float = Field(5.0, gt=0)
    log_every: int = Field(25, ge=1)
    image_every: int = Field(250, ge=1)
    heldout_fraction: float = Field(0.1, gt=0, lt=1)
    compile: bool | None = Field(None, description="torch.compile the model (default: on for CUDA)")
    precision: Literal["auto", "fp32", "bf16"] = "auto"  # auto: bf16 autocast on CUDA, fp32 elsewhere
    oom_retry: bool = Field(False, description="out of memory: queue once more at half the batch")
    gpus: int = Field(1, ge=1, description="devices, one process each (data-parallel); batch_size is the global batch")
    sync_bn: bool = Field(False, description="batch-norm statistics over all devices (SyncBatchNorm; CUDA only)")

    @field_validator("data")
    @classmethod
    def _data(cls, v: str) -> str:
        from aetui.data.sources import parse_source

        return str(parse_source(v))

    @field_validator("train_noise")
    @classmethod
    def _noise(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from aetui.corruptions import parse_corruption

        return str(parse_corruption(v))

    @model_validator(mode="after")
    def _devices(self) -> "TrainSpec":
        if self.batch_size % self.gpus:
            raise ValueError(f"--batch-size {self.batch_size} is not divisible by --gpus {self.gpus}: "
                             f"the batch size is the global batch, split evenly over the devices")
        return self

    @model_validator(mode="after")
    def _model(self) -> "TrainSpec":
        from aetui.models import catalog

        options = {k: v for k, v in self.options.items() if v is not None}
        catalog.validate(self.model, self.res, **options)
        self.options = {**catalog.defaults(self.model), **options}
        return self

    @property
    def label(self) -> str:
        extras = [f"{k}={v}" for k, v in self.options.items() if v not in (None, False)
                  and v != _default_option(self.model, k)]
        if self.gpus > 1:
            extras.append(f"gpus={self.gpus}" + (" sync_bn" if self.sync_bn else ""))
        return " ".join([self.model, f"res{self.res}", self.data, *extras])

    def check_files(self, home: Path) -> None:
        """What can only be checked on this machine: the data's files exist, and a folder
        of images holds at least one that decodes (when a few files tell)."""
        from aetui.data.sources import any_readable_image, check_source, parse_source, source_path

        src = parse_source(self.data)
        check_source(src, home=home, download=self.download)
        if src.kind == "folder" and any_readable_image(source_path(src)) is False:
            raise ValueError(f"no readable images in {source_path(src)}: every image file there is corrupt or truncated")


def _default_option(model: str, key: str) -> Any:
    from aetui.models import catalog

    return catalog.defaults(model).get(key)


class NoopSpec(BaseModel):
    """A hidden job kind that only sleeps and reports progress: a test and benchmark aid
    for the queue and the worker (many cheap jobs through real worker processes). Not
    offered by the CLI."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["noop"] = "noop"
    steps: int = Field(1, ge=1)
    sleep_s: float = Field(0.0, ge=0, description="seconds per step, not interrupted by a stop request")
    gpus: int = Field(1, ge=1, description="devices it holds (one process each, as a data-parallel job)")

    @property
    def label(self) -> str:
        return f"noop {self.steps} steps"


SPEC_TYPES: dict[str, type[BaseModel]] = {"train": TrainSpec, "noop": NoopSpec}


def register(kind: str, spec_type: type[BaseModel]) -> None:
    """Experiments register their spec type under their job kind."""
    SPEC_TYPES[kind] = spec_type


def parse_spec(kind: str, data: dict[str, Any]) -> BaseModel:
    """Validate a spec dict of a job kind; UserError with one line on failure."""
    _load_experiment_specs()
    spec_type = SPEC_TYPES.get(kind)
    if spec_type is None:
        raise UserError(f"unknown job kind {kind!r}")
    try:
        return spec_type.model_validate(data)
    except ValidationError as e:
        raise UserError(one_line(e)) from None


def one_line(e: ValidationError) -> str:
    """The first validation problem as one readable line."""
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if where and where in cls_fields():
        return f"--{where.replace('_', '-')}: {msg[0].lower() + msg[1:]}"
    return f"{where}: {msg}" if where else msg


def cls_fields() -> set[str]:
    """Spec field names across kinds (those are CLI flags too)."""
    return {name for spec_type in SPEC_TYPES.values() for name in spec_type.model_fields}


def _load_experiment_specs() -> None:
    try:
        import aetui.experiments.specs  # noqa: F401  (registers sweep, walk, probe)
    except ModuleNotFoundError as e:
        if e.name != "aetui.experiments.specs":
            raise
