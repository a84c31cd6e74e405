"""The training spec: copy task (MSE) on one dataset with one model.

Pure pydantic + the torch-free catalogs (models, data, corruptions): validating it
never imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from aetui.defaults import LIMITS, TRAIN
from aetui.errors import UserError


class TrainSpec(BaseModel):
    """A training job: copy task (MSE) on one dataset with one model."""

    # inf and nan are no learning rate, fraction or interval
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    kind: Literal["train"] = "train"
    model: str
    res: int
    options: dict[str, Any] = Field(default_factory=dict, description="model options (see `aetui.models`)")
    data: str = TRAIN["data"]
    download: bool = False
    steps: int = Field(TRAIN["steps"], ge=1, le=LIMITS["steps"])
    batch_size: int = Field(TRAIN["batch_size"], ge=1, le=LIMITS["batch_size"])
    lr: float = Field(TRAIN["lr"], gt=0)
    seed: int = Field(TRAIN["seed"], ge=-LIMITS["seed"], le=LIMITS["seed"])
    train_noise: str | None = Field(None, description="corrupt inputs while training (a denoising control)")
    checkpoint_every: int = Field(TRAIN["checkpoint_every"], ge=1, le=LIMITS["steps"])
    checkpoint_minutes: float = Field(TRAIN["checkpoint_minutes"], gt=0, le=60 * 24 * 365)
    log_every: int = Field(TRAIN["log_every"], ge=1, le=LIMITS["steps"])
    image_every: int = Field(TRAIN["image_every"], ge=1, le=LIMITS["steps"])
    heldout_fraction: float = Field(TRAIN["heldout_fraction"], gt=0, lt=1)
    compile: bool | None = Field(None, description="torch.compile the model (default: on for CUDA)")
    precision: Literal["auto", "fp32", "bf16"] = TRAIN["precision"]  # auto: bf16 autocast on CUDA, fp32 elsewhere
    oom_retry: bool = Field(False, description="out of memory: queue once more at half the batch")
    gpus: int = Field(TRAIN["gpus"], ge=1, le=LIMITS["gpus"], description="devices, one process each (data-parallel); batch_size is the global batch")
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
        for name, limit in (("width", LIMITS["width"]), ("base_width", LIMITS["width"]),
                            ("hidden_layers", LIMITS["hidden_layers"])):
            value = options.get(name)
            if type(value) is int and value > limit:
                raise ValueError(f"--{name.replace('_', '-')} {value} is above the limit of {limit}")
        if isinstance(options.get("bottleneck"), str) and catalog.bottleneck_size(options["bottleneck"]) > LIMITS["bottleneck"]:
            raise ValueError(f"--bottleneck {options['bottleneck']}: at most linear:{LIMITS['bottleneck']}")
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
        of images holds at least one that decodes (when a few files tell); UserError if not."""
        from aetui.data.sources import any_readable_image, check_source, parse_source, source_path

        src = parse_source(self.data)
        check_source(src, home=home, download=self.download)
        if src.kind == "folder" and any_readable_image(source_path(src)) is False:
            raise UserError(f"no readable images in {source_path(src)}: every image file there is corrupt or truncated")


def _default_option(model: str, key: str) -> Any:
    from aetui.models import catalog

    return catalog.defaults(model).get(key)
