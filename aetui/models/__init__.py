"""Model registry: `build(name, res, **options)` for the CLI, the worker and the tests.

Importing this package does not import torch; `build` imports the model family it needs.
Every model maps (N, 3, res, res) to the same shape with no output activation, exposes
`probe_layers()` and a JSON-able `config` ({"name", "res", "options"}), and `encode`/`decode`
where `supports_latent` says so.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from aetui.models.catalog import MODEL_NAMES, OPTIONS, defaults, resolve, supports_latent, validate

if TYPE_CHECKING:
    import torch

__all__ = ["MODEL_NAMES", "OPTIONS", "build", "defaults", "resolve", "supports_latent", "validate"]

# model name -> (module, class) constructed as cls(res, **full_options)
_FAMILIES = {
    "mlp": ("aetui.models.mlp", "MLPAutoencoder"),
    "unet": ("aetui.models.unet", "UNet"),
    "attn-unet": ("aetui.models.attn_unet", "AttentionUNet"),
}


def build(name: str, res: int, **options: Any) -> torch.nn.Module:
    """Validate the spec, then construct the model (on torch's current default device)."""
    full = resolve(name, res, **options)
    module, cls = _FAMILIES[name]
    return getattr(import_module(module), cls)(res, **full)
