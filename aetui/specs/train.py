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
from aetui.models.catalog import is_ref


class TrainSpec(BaseModel):
    """A training job: copy task (MSE) on one dataset with one model."""

    # inf and nan are no learning rate, fraction or interval
    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    kind: Literal["train"] = "train"
    model: str = Field(description="mlp, unet, attn-unet, or your own: PATH.py:NAME or package.module:NAME")
    res: int
    options: dict[str, Any] = Field(default_factory=dict, description="model options (see `aetui.models`)")
    code: dict[str, Any] = Field(default_factory=dict, description="manifests of the snapshots of your own model and data code (set when queued)")
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
    eval_every: int = Field(TRAIN["eval_every"], ge=1, le=LIMITS["steps"],
                            description="held-out MSE every N steps (TensorBoard heldout/mse)")
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

    @property
    def custom(self) -> bool:
        """Whether the model is your own code (`PATH.py:NAME`), not a built-in family."""
        return is_ref(self.model)

    @model_validator(mode="after")
    def _model(self) -> "TrainSpec":
        from aetui.models import catalog

        if self.custom:
            return self._custom_model()
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

    def _custom_model(self) -> "TrainSpec":
        """Your own model: the reference's syntax and options that are JSON scalars; what the
        model makes of them is its own business (checked when it is built)."""
        from aetui.code_snapshot import parse_ref

        self.model = str(parse_ref(self.model))
        if not 1 <= self.res <= LIMITS["image_side"]:
            raise ValueError(f"--res {self.res}: a resolution in 1..{LIMITS['image_side']}")
        for key, value in self.options.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise ValueError(f"--opt {key!r}: an option name is a Python identifier")
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise ValueError(f"--opt {key}: {value!r} is not a JSON scalar (number, true/false, string)")
        return self

    @model_validator(mode="after")
    def _data_res(self) -> "TrainSpec":
        """After the model's own checks (a U-Net at res 48 hears about powers of two first)."""
        from aetui.data.sources import check_res, parse_source

        check_res(parse_source(self.data), self.res)
        return self

    @property
    def label(self) -> str:
        if self.custom:
            from aetui.code_snapshot import parse_ref

            extras = [f"{k}={v}" for k, v in self.options.items()]
            return " ".join([parse_ref(self.model).short, f"res{self.res}", _data_label(self.data), *extras])
        extras = [f"{k}={v}" for k, v in self.options.items() if v not in (None, False)
                  and v != _default_option(self.model, k)]
        if self.gpus > 1:
            extras.append(f"gpus={self.gpus}" + (" sync_bn" if self.sync_bn else ""))
        return " ".join([self.model, f"res{self.res}", _data_label(self.data), *extras])

    def snapshots(self) -> dict[str, Any]:
        """Your own model and data code, read now, to be written into the run folder."""
        return code_snapshots(self.model, self.data)

    def check_files(self, home: Path) -> None:
        """What can only be checked on this machine: the data's files exist, and a folder
        of images holds at least one that decodes (when a few files tell); UserError if not."""
        from aetui.data.sources import any_readable_image, check_source, parse_source, source_path

        if self.custom:
            from aetui.code_snapshot import check, parse_ref

            check(parse_ref(self.model), "model")
        src = parse_source(self.data)
        check_source(src, home=home, download=self.download)
        if src.kind == "folder" and any_readable_image(source_path(src)) is False:
            raise UserError(f"no readable images in {source_path(src)}: every image file there is corrupt or truncated")


def code_snapshots(model: str | None, data: str | None) -> dict[str, Any]:
    """Snapshots (`aetui.code_snapshot.Snapshot`) of your own model and data code, by role;
    read at queue time (UserError when a file is missing or defines no such name)."""
    from aetui.data.sources import parse_source

    out = {}
    if model is not None and is_ref(model):  # the built-in models need no snapshot (nor its module)
        from aetui.code_snapshot import parse_ref, take

        out["model"] = take(parse_ref(model), "model")
    src = parse_source(data) if data is not None else None
    if src is not None and src.kind == "py":
        from aetui.code_snapshot import parse_ref, take

        out["data"] = take(parse_ref(src.path or "", "--data py:"), "data", "--data py:")
    return out


def _data_label(data: str) -> str:
    """`py:/long/path/load.py:images` shows as `py:load.py:images`."""
    if not data.startswith("py:"):
        return data
    from aetui.code_snapshot import parse_ref

    return "py:" + parse_ref(data[3:], "--data py:").short


def _default_option(model: str, key: str) -> Any:
    from aetui.models import catalog

    return catalog.defaults(model).get(key)
