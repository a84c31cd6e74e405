"""Model registry: `build(name, res, **options)` for the CLI, the worker and the tests.

Importing this package does not import torch; `build` imports the model family it needs.
Every model, built-in or your own (`PATH.py:NAME`, `package.module:NAME`, see
`aetui.models.custom`), is an :class:`Autoencoder`: it maps (N, 3, res, res) to the same
shape with no output activation. `encode`/`decode` (:class:`LatentAutoencoder`) make
latent walks possible, `probe_layers()` (:class:`ProbedAutoencoder`) probes of inner
layers. The built-in ones have both (`encode`/`decode` where `supports_latent` says so)
and a JSON-able `config` ({"name", "res", "options"}).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aetui.models.catalog import MODEL_NAMES, OPTIONS, defaults, is_ref, resolve, supports_latent, validate

if TYPE_CHECKING:
    import torch

__all__ = ["MODEL_NAMES", "OPTIONS", "Autoencoder", "LatentAutoencoder", "ProbedAutoencoder", "build",
           "defaults", "resolve", "supports_latent", "validate"]


@runtime_checkable
class Autoencoder(Protocol):
    """The contract of every model aetui trains: a `torch.nn.Module` whose forward maps a
    float batch (N, 3, res, res) in [0, 1] to a batch of the same shape (no output
    activation needed: the loss is MSE against the input). Your own model is built as
    `X(res=res, **options)` (a class or a factory function) from the options given with
    `--opt key=value`. Optional: :class:`LatentAutoencoder` and :class:`ProbedAutoencoder`."""

    def forward(self, x: "torch.Tensor") -> "torch.Tensor": ...


@runtime_checkable
class LatentAutoencoder(Autoencoder, Protocol):
    """An autoencoder that splits into encoder and decoder: `decode(encode(x))` is its
    forward. `aetui walk --mode latent` needs it (h <- E(D(h)) + eps * N(0, 1))."""

    def encode(self, x: "torch.Tensor") -> "torch.Tensor": ...

    def decode(self, h: "torch.Tensor") -> "torch.Tensor": ...


@runtime_checkable
class ProbedAutoencoder(Autoencoder, Protocol):
    """An autoencoder that names its inner layers: `probe_layers()` returns an ordered
    {name: submodule} in forward order. `aetui probe --layer NAME` matches that submodule's
    output; the `output` layer (the whole model) can be probed on every model."""

    def probe_layers(self) -> "dict[str, torch.nn.Module]": ...


# model name -> (module, class) constructed as cls(res, **full_options)
_FAMILIES = {
    "mlp": ("aetui.models.mlp", "MLPAutoencoder"),
    "unet": ("aetui.models.unet", "UNet"),
    "attn-unet": ("aetui.models.attn_unet", "AttentionUNet"),
}


def build(name: str, res: int, *, code_dir: Path | None = None, **options: Any) -> torch.nn.Module:
    """Validate the spec, then construct the model (on torch's current default device).

    `name` may be your own model (`PATH.py:NAME`): it is built from its snapshot in
    `code_dir` (a run's `code/model`), never from the file the name points at."""
    if is_ref(name):
        from aetui.models.custom import build as build_custom

        return build_custom(name, res, options, code_dir)
    full = resolve(name, res, **options)
    module, cls = _FAMILIES[name]
    return getattr(import_module(module), cls)(res, **full)
