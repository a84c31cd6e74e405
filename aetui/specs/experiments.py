"""Specs of the experiments on a trained model: `sweep`, `walk` and `probe`.

Like the training spec they validate without torch. What depends on the model they run
on (a latent walk needs an encoder/decoder split, a probe needs a layer the model has)
is checked by `check_model` against a :class:`aetui.specs.model_info.ModelInfo` before
the job is queued (`aetui.jobs.submit_experiment`). Their runners are
`aetui.experiments.sweep`, `.walk` and `.probe`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from aetui.defaults import EXPERIMENT, LIMITS, PROBE, SWEEP, SWEEP_LEVELS, WALK
from aetui.errors import UserError
from aetui.specs.model_info import ModelInfo

BN = Literal["train", "eval"]


class _OnModel(BaseModel):
    """Fields every experiment on a trained model has."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    checkpoint: str | None = Field(None, description="an outside model: a checkpoint file instead of a parent job")
    model: str | None = Field(None, description="an outside checkpoint of your own model: rebuild it from this file (PATH.py:NAME)")
    code: dict[str, Any] = Field(default_factory=dict, description="manifests of the snapshots of your own code (set when queued)")
    data: str | None = Field(None, description="take the held-out images from this data instead of the model's own")
    seed: int = Field(EXPERIMENT["seed"], ge=-LIMITS["seed"], le=LIMITS["seed"], description="seed of the noise draws")
    bn: BN = Field(EXPERIMENT["bn"], description="batch norm: train (batch statistics, the article) or eval (running)")

    @field_validator("data")
    @classmethod
    def _data(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from aetui.data.sources import parse_source

        return str(parse_source(v))

    @field_validator("checkpoint")
    @classmethod
    def _checkpoint(cls, v: str | None) -> str | None:
        return None if v is None else str(Path(v).expanduser().resolve())

    @field_validator("model")
    @classmethod
    def _model(cls, v: str | None) -> str | None:
        if v is None:
            return v
        from aetui.code_snapshot import parse_ref

        return str(parse_ref(v, "--model"))

    def check_files(self, home: Path) -> None:
        """What can only be checked on this machine: the checkpoint and data files exist."""
        if self.checkpoint is not None and not Path(self.checkpoint).is_file():
            raise UserError(f"checkpoint {self.checkpoint} does not exist")
        if self.model is not None:
            from aetui.code_snapshot import check, parse_ref

            check(parse_ref(self.model, "--model"), "--model")
        if self.data is not None:
            from aetui.data.sources import check_source, parse_source

            check_source(parse_source(self.data), home=home, download=False)

    def snapshots(self) -> dict[str, Any]:
        """Your own code this job names (`--model`, `--data py:`), read now for its run folder."""
        from aetui.specs.train import code_snapshots

        return code_snapshots(self.model, self.data)

    def check_model(self, info: ModelInfo) -> None:
        """Raise UserError (one line) if this experiment cannot run on that model."""
        if self.model is not None and (self.checkpoint is None or not info.custom):
            raise UserError(f"--model rebuilds an outside checkpoint of your own model; {info.source} is "
                            + ("a training job, rebuilt from its own snapshot" if self.checkpoint is None
                               else f"a built-in {info.model}"))
        if self.data is None and info.data is None:
            raise UserError(f"{info.source} has no training spec to take the data from; give --data")
        if self.data is not None:  # its images are made at the model's resolution
            from aetui.data.sources import check_res, parse_source

            check_res(parse_source(self.data), info.res)

    def _check_batch(self, info: ModelInfo, batch: int, flag: str) -> None:
        # BatchNorm1d cannot take batch statistics of a single vector
        if info.model == "mlp" and self.bn == "train" and batch < 2:
            raise UserError(f"{flag} must be at least 2 for an mlp with --bn train (batch statistics)")

    def _of(self) -> str:
        return f" of {Path(self.checkpoint).name}" if self.checkpoint else ""


class SweepSpec(_OnModel):
    """Input and output error of a trained model (and of its untrained control) over a
    grid of corruption levels, on held-out images."""

    kind: Literal["sweep"] = "sweep"
    noise: str = Field(SWEEP["noise"], description="corruption with its fixed parameters, e.g. mix or mix:mu=0.5")
    levels: list[float] = Field(default_factory=list, description="level grid: a,b,c or start:stop:count")
    images: int = Field(SWEEP["images"], ge=1, le=LIMITS["sweep_images"], description="held-out images")
    batch_size: int = Field(SWEEP["batch_size"], ge=1, le=LIMITS["batch_size"], description="images per forward pass (batch statistics in --bn train)")
    control: bool = Field(SWEEP["control"], description="also run the untrained model (same seed)")
    samples: int = Field(SWEEP["samples"], ge=1, le=LIMITS["samples"], description="images shown in each level's triplet")

    @field_validator("noise")
    @classmethod
    def _noise(cls, v: str) -> str:
        from aetui.corruptions import parse_corruption

        return str(parse_corruption(v))

    @field_validator("levels", mode="before")
    @classmethod
    def _levels(cls, v: Any, info: ValidationInfo) -> Any:
        from aetui.corruptions import parse_levels

        noise = info.data.get("noise")
        if noise is None:  # the noise itself is invalid; that error is reported
            return []
        name = noise.partition(":")[0]
        if isinstance(v, str):
            _check_level_count(v)
            return parse_levels(v, name)
        if isinstance(v, (int, float)):
            v = [v]
        if isinstance(v, list):
            if len(v) > LIMITS["levels"]:
                raise ValueError(f"{len(v)} levels: at most {LIMITS['levels']}")
            return parse_levels(",".join(repr(float(x)) for x in v), name) if v else []
        return v

    @model_validator(mode="before")
    @classmethod
    def _default_levels(cls, data: Any) -> Any:
        """No --levels: the level the noise names (mix:0.3), else its default grid."""
        if not isinstance(data, dict) or data.get("levels") not in (None, "", []):
            return data
        text = str(data.get("noise", SWEEP["noise"])).strip()
        name, _, rest = text.partition(":")
        first = rest.split(",")[0].strip() if rest.strip() else ""
        levels = first if first and "=" not in first else SWEEP_LEVELS.get(name.strip().lower(), "")
        return {**data, "levels": levels or None}

    def check_model(self, info: ModelInfo) -> None:
        super().check_model(info)
        self._check_batch(info, min(self.images, self.batch_size), "--images and --batch-size")

    @property
    def steps(self) -> int:
        """Progress is counted in levels."""
        return len(self.levels)

    @property
    def label(self) -> str:
        grid = ",".join(f"{v:g}" for v in self.levels)
        return f"sweep {self.noise.partition(':')[0]} [{grid}] bn={self.bn}{self._of()}"


def _short(model: str) -> str:
    from aetui.code_snapshot import parse_ref

    return parse_ref(model).short


def _check_level_count(text: str) -> None:
    """Refuse a grid of more than LIMITS["levels"] levels before it is built (a typo in
    start:stop:count would otherwise fill the memory first)."""
    parts = text.split(":")
    count = parts[2].strip() if len(parts) == 3 else None
    if count is not None and count.isdigit() and len(count) < 12 and int(count) <= LIMITS["levels"]:
        return
    if count is None and text.count(",") < LIMITS["levels"]:
        return
    if count is not None and not count.isdigit():
        return  # not a count: parse_levels says what is wrong with it
    raise ValueError(f"bad level grid {text[:40]!r}: at most {LIMITS['levels']} levels")


class WalkSpec(_OnModel):
    """A manifold walk: chains of images iterated through the model, saved as frames."""

    kind: Literal["walk"] = "walk"
    mode: Literal["iterate", "latent", "diffuse"] = Field(
        WALK["mode"], description="iterate: x <- O(x); latent: h <- E(D(h)) + eps*N(0,1); "
                               "diffuse: x <- (n/N) O(x) + (1-n/N) N(mu, sigma)")
    steps: int = Field(WALK["steps"], ge=1, le=LIMITS["walk_steps"])
    chains: int = Field(WALK["chains"], ge=1, le=LIMITS["walk_chains"], description="chains walked together (one batch)")
    start: Literal["noise", "data"] = Field(WALK["start"], description="noise: N(mu, sigma); data: held-out images")
    eps: float | None = Field(None, ge=0, le=1e6, description=f"latent noise std (latent mode; default {WALK['eps']:g})")
    every: int | None = Field(None, ge=1, le=LIMITS["walk_steps"], description=f"save every k-th frame (default: about {WALK['frames']} frames)")
    move_threshold: float | None = Field(
        None, gt=0, le=1e6, description="a chain moves while its step ||x_{n+1}-x_n|| is above this "
                                "(default 1e-3 * sqrt(pixels of an image))")
    mu: float = Field(WALK["mu"], ge=-10, le=10, description="mean of the start and diffusion noise")
    sigma: float = Field(WALK["sigma"], ge=0, le=10, description="std of the start and diffusion noise")

    @model_validator(mode="after")
    def _resolve(self) -> "WalkSpec":
        if self.eps is not None and self.mode != "latent":
            raise ValueError(f"--eps applies to --mode latent only, not {self.mode}")
        if self.mode == "latent" and self.eps is None:
            self.eps = WALK["eps"]
        if self.every is None:
            self.every = max(1, math.ceil(self.steps / WALK["frames"]))
        return self

    def check_model(self, info: ModelInfo) -> None:
        super().check_model(info)
        if self.mode == "latent" and not info.latent():
            if info.custom:
                raise UserError(f"--mode latent needs an encoder/decoder split: {info.source}'s model "
                                 f"{_short(info.model)} has no encode and decode methods; use --mode iterate or diffuse")
            why = " with skips" if info.options.get("skips") else ""
            raise UserError(f"--mode latent needs an encoder/decoder split, which {info.source} "
                             f"({info.model}{why}) has not; use --mode iterate or diffuse")
        self._check_batch(info, self.chains, "--chains")

    def frame_steps(self) -> list[int]:
        """The steps whose frames are saved: 0, k, 2k, ... and always the last one."""
        steps = list(range(0, self.steps + 1, self.every))
        return steps if steps[-1] == self.steps else [*steps, self.steps]

    @property
    def label(self) -> str:
        eps = f" eps={self.eps:g}" if self.mode == "latent" else ""
        return f"walk {self.mode}{eps} {self.steps} steps x{self.chains} from {self.start}{self._of()}"


class ProbeSpec(_OnModel):
    """Input representation: gradient descent on an input until a layer's output matches
    that of a held-out image, for the trained and the untrained model."""

    kind: Literal["probe"] = "probe"
    layer: str = Field(PROBE["layer"], description="layer whose output is matched (see the model's probe_layers)")
    iters: int = Field(PROBE["iters"], ge=1, le=LIMITS["probe_iters"])
    lr: float = Field(PROBE["lr"], gt=0, le=1e6, description="plain gradient-descent step on the input")
    images: int = Field(PROBE["images"], ge=1, le=LIMITS["probe_images"], description="held-out images to reconstruct (one batch)")
    bn: BN = Field(PROBE["bn"], description="batch norm mode; eval (running statistics) as the original probe code")

    def check_model(self, info: ModelInfo) -> None:
        super().check_model(info)
        names = info.layers()
        if self.layer not in names:
            if info.custom and names == ["output"]:
                raise UserError(f"layer {self.layer!r}: {info.source}'s model {_short(info.model)} has no "
                                 f"probe_layers() method, so only --layer output can be probed")
            model = _short(info.model) if info.custom else info.model
            raise UserError(f"unknown layer {self.layer!r} for {info.source} ({model}); "
                             f"layers: {', '.join(names)}")
        self._check_batch(info, self.images, "--images")

    @property
    def steps(self) -> int:
        """Progress counts the iterations of both models."""
        return 2 * self.iters

    @property
    def label(self) -> str:
        return f"probe {self.layer} {self.iters} iters lr={self.lr:g}{self._of()}"
