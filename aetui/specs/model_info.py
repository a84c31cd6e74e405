"""What an experiment needs to know about the model it runs on, without torch.

A finished training job's spec or a checkpoint's `config` say it; the experiment specs
check themselves against it (`check_model`) before a job is queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aetui.defaults import TRAIN


@dataclass(frozen=True)
class ModelInfo:
    """What an experiment needs to know about the model it runs on."""

    source: str  # "job 3" or the checkpoint path, for messages
    model: str
    res: int
    options: dict[str, Any] = field(default_factory=dict)
    data: str | None = None  # None: an outside checkpoint without its training spec
    seed: int = TRAIN["seed"]
    heldout_fraction: float = TRAIN["heldout_fraction"]
    download: bool = False
    code: dict[str, Any] | None = None  # your own model: its snapshot's manifest (sha256, files)
    offers: dict[str, Any] | None = None  # your own model: {"latent": bool, "layers": [...]}, recorded in training

    @property
    def custom(self) -> bool:
        """Whether the model is your own code (`PATH.py:NAME`)."""
        return ":" in self.model

    def latent(self) -> bool:
        """Whether the model splits into encode/decode (a latent walk)."""
        if self.custom:
            return bool((self.offers or {}).get("latent"))
        from aetui.models.catalog import supports_latent

        return supports_latent(self.model, **self.options)

    def layers(self) -> list[str]:
        """The layers a probe may match, in forward order (`output` on every model)."""
        if self.custom:
            found = list((self.offers or {}).get("layers") or [])
            return found if "output" in found else [*found, "output"]
        return layer_names(self.model, self.options)

    @classmethod
    def from_state(cls, state: dict[str, Any], source: str) -> "ModelInfo":
        """From a checkpoint's `config` and, where it has one, its training `spec`."""
        config, spec = state["config"], state.get("spec") or {}
        return cls(source=source, model=str(config["name"]), res=int(config["res"]),
                   options=dict(config.get("options") or {}), data=spec.get("data"),
                   code=config.get("code"), offers=config.get("offers"),
                   seed=int(spec.get("seed", TRAIN["seed"])),
                   heldout_fraction=float(spec.get("heldout_fraction", TRAIN["heldout_fraction"])),
                   download=bool(spec.get("download", False)))

    @classmethod
    def from_train_spec(cls, spec: dict[str, Any], source: str, offers: dict[str, Any] | None = None) -> "ModelInfo":
        """From a training job's spec, and (your own model) what its run recorded it offers."""
        return cls.from_state({"config": {"name": spec["model"], "res": spec["res"],
                                          "options": spec.get("options") or {},
                                          "code": (spec.get("code") or {}).get("model"), "offers": offers},
                               "spec": spec}, source)


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
