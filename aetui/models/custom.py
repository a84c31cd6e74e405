"""Your own autoencoder: built from its snapshot, checked, and asked what it offers.

The queue-time side (the file exists and defines the name, the snapshot) is
`aetui.code_snapshot`; this is the run-time side, with torch. Every failure is a
`CodeError` of one line naming the model (the job fails with it; the traceback goes to
the job's stderr only).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from aetui.code_snapshot import CodeError, call, import_object, parse_ref, read_manifest
from aetui.run_layout import RunLayout

if TYPE_CHECKING:
    import torch


def build(name: str, res: int, options: dict[str, Any], code_dir: Path | None) -> "torch.nn.Module":
    """`X(res=res, **options)` of the snapshot in `code_dir`; CodeError unless that is a
    `torch.nn.Module`."""
    import torch

    label = f"model {parse_ref(name).short}" if ":" in name else f"model {name}"
    if code_dir is None:
        raise CodeError(f"{label}: no snapshot of its code to build it from")
    code_dir = Path(code_dir)
    manifest = read_manifest(RunLayout.at(code_dir.parent.parent).code_manifest(code_dir.name))
    factory = import_object(code_dir, manifest, "model")
    model = call(factory, f"{label}: {manifest.get('name')}(res={res}, ...)", res=res, **options)
    if not isinstance(model, torch.nn.Module):
        raise CodeError(f"{label}: {manifest.get('name')}(res={res}, ...) returned a {type(model).__name__}, "
                        f"not a torch.nn.Module")
    return model


def check_output(model: "torch.nn.Module", x: "torch.Tensor", name: str) -> None:
    """CodeError unless the model maps this batch to a batch of the same shape."""
    import torch

    label = f"model {parse_ref(name).short}" if ":" in name else f"model {name}"
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = call(model, f"{label}: its forward pass on a {tuple(x.shape)} batch", x)
    finally:
        model.train(was)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(x.shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise CodeError(f"{label}: maps {tuple(x.shape)} to {got}; an autoencoder must map (N, 3, res, res) "
                        f"to the same shape")


def offers(model: Any) -> dict[str, Any]:
    """What the model offers the experiments: an encode/decode split, and its probe
    layers (in forward order, `output` last); recorded in its run when training starts."""
    latent = callable(getattr(model, "encode", None)) and callable(getattr(model, "decode", None))
    return {"latent": bool(latent), "layers": list(probe_layers(model))}


def probe_layers(model: Any) -> dict[str, Any]:
    """The model's own `probe_layers()` (when it has them), and `output`: the whole model
    when it names no such layer itself."""
    fn = getattr(model, "probe_layers", None)
    layers = dict(fn()) if callable(fn) else {}
    if "output" not in layers:
        layers["output"] = model
    return layers
