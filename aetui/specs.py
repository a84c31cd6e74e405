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
        return " ".join([self.model, f"res{self.res}", self.data, *extras])

    def check_files(self, home: Path) -> None:
        """What can only be checked on this machine: the data's files exist."""
        from aetui.data.sources import check_source, parse_source

        check_source(parse_source(self.data), home=home, download=self.download)


def _default_option(model: str, key: str) -> Any:
    from aetui.models import catalog

    return catalog.defaults(model).get(key)


SPEC_TYPES: dict[str, type[BaseModel]] = {"train": TrainSpec}


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
