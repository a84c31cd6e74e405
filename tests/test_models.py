"""aetui.models: shapes, encode/decode, probes, validation and parameter counts (tiny sizes)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aetui.models import MODEL_NAMES, OPTIONS, build, defaults, resolve, supports_latent, validate

TINY = {
    "mlp": [(16, {"width": 32}), (16, {"width": 32, "hidden_layers": 0})],
    "unet": [
        (32, {"base_width": 4, "depth": depth, "skips": skips, "bottleneck": bottleneck})
        for depth in (2, 4)  # depth 4 at res 32 leaves a 2x2 bottleneck: the k=2 expand
        for skips in (False, True)
        for bottleneck in (None, "linear:8")
    ],
    "attn-unet": [(32, {"base_width": 8, "depth": 2}), (32, {"base_width": 8, "depth": 3})],
}
SPECS = [(name, res, opts) for name, specs in TINY.items() for res, opts in specs]
IDS = ["-".join([name, str(res), *(f"{k}={v}" for k, v in o.items())]) for name, res, o in SPECS]

# tiny models: a second torch thread only waits for a core on a busy machine (attn-unet's
# backward took ~9 s at load 7 with two threads)
pytestmark = pytest.mark.usefixtures("one_thread")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.mark.parametrize(("name", "res", "opts"), SPECS, ids=IDS)
def test_forward_shape_and_config(name: str, res: int, opts: dict) -> None:
    model = build(name, res, **opts)
    y = model(torch.rand(2, 3, res, res))
    assert y.shape == (2, 3, res, res)
    assert model.config == {"name": name, "res": res, "options": {**defaults(name), **opts}}
    json.dumps(model.config)
    config = model.config
    assert n_params(build(config["name"], config["res"], **config["options"])) == n_params(model)


@pytest.mark.parametrize(("name", "res", "opts"), SPECS, ids=IDS)
def test_encode_decode_round_trip(name: str, res: int, opts: dict) -> None:
    model = build(name, res, **opts).eval()
    x = torch.rand(3, 3, res, res)
    if not supports_latent(name, **opts):
        assert not hasattr(model, "encode") or opts.get("skips")
        return
    h = model.encode(x)
    assert h.shape[0] == 3
    assert torch.equal(model.decode(h), model(x))


def test_supports_latent() -> None:
    assert supports_latent("mlp")
    assert supports_latent("unet")
    assert supports_latent("unet", bottleneck="linear:100")
    assert not supports_latent("unet", skips=True)
    assert not supports_latent("attn-unet")


def test_unet_latent_shapes() -> None:
    plain = build("unet", 32, base_width=4, depth=3)
    assert plain.encode(torch.rand(2, 3, 32, 32)).shape == (2, 32, 4, 4)
    hidden = build("unet", 32, base_width=4, depth=3, bottleneck="linear:8")
    assert hidden.encode(torch.rand(2, 3, 32, 32)).shape == (2, 8)
    with pytest.raises(RuntimeError, match="skips"):
        build("unet", 32, base_width=4, depth=2, skips=True).encode(torch.rand(2, 3, 32, 32))


def test_skips_change_what_the_decoder_sees() -> None:
    """Same weights, skips on vs off: outputs differ, so the skip tensors are really used."""
    off = build("unet", 32, base_width=4, depth=2).eval()
    on = build("unet", 32, base_width=4, depth=2, skips=True).eval()
    on.load_state_dict(off.state_dict())
    x = torch.rand(2, 3, 32, 32)
    assert not torch.allclose(on(x), off(x))


@pytest.mark.parametrize(("name", "res", "opts"), SPECS, ids=IDS)
def test_probe_layer_hooks_fire_in_order(name: str, res: int, opts: dict) -> None:
    model = build(name, res, **opts)
    layers = model.probe_layers()
    assert list(layers)[-1] == "output"
    fired: list[str] = []
    outputs: dict[str, torch.Tensor] = {}

    def hook(key: str):
        def record(_module, _inputs, output) -> None:
            fired.append(key)
            outputs[key] = output

        return record

    handles = [layer.register_forward_hook(hook(key)) for key, layer in layers.items()]
    y = model(torch.rand(2, 3, res, res))
    for handle in handles:
        handle.remove()
    assert fired == list(layers)
    assert all(isinstance(out, torch.Tensor) for out in outputs.values())
    assert torch.equal(outputs["output"], y)


def test_unet_probe_keys() -> None:
    keys = list(build("unet", 32, base_width=4, depth=3).probe_layers())
    assert keys == ["inc", "down1", "down2", "bottleneck", "up1", "up2", "up3", "output"]
    hidden = build("unet", 32, base_width=4, depth=2, bottleneck="linear:8").probe_layers()
    assert list(hidden)[:4] == ["inc", "down1", "down2", "bottleneck"]


@pytest.mark.parametrize(("name", "res", "opts"), SPECS, ids=IDS)
def test_gradients_reach_every_parameter(name: str, res: int, opts: dict) -> None:
    """Every layer trains (the original MLP left five layers unregistered and frozen)."""
    model = build(name, res, **opts)
    model(torch.rand(4, 3, res, res)).square().mean().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert dead == []


def test_mlp_registers_all_layers() -> None:
    """The faithful MLP at res 32, width 4000: every layer counts (104,611,072 parameters)."""
    model = build("mlp", 32)
    pixels, width = 3 * 32 * 32, 4000
    expected = (
        pixels * width + width
        + 2 * width
        + 5 * (width * width + width)
        + width * pixels + pixels
    )
    assert n_params(model) == expected == 104_611_072
    assert set(dict(model.named_parameters())) <= set(model.state_dict())


def test_mlp_any_batch_size_and_split() -> None:
    model = build("mlp", 8, width=16, hidden_layers=5)
    assert list(model.probe_layers()) == [
        "input", "hidden1", "hidden2", "hidden3", "hidden4", "hidden5", "output",
    ]
    assert len(model.encoder) == 1 + 3 and len(model.decoder) == 2 + 1
    for batch in (2, 5):
        assert model(torch.rand(batch, 3, 8, 8)).shape == (batch, 3, 8, 8)


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        ({}, 31_037_763),  # UNet (unet_noresiduals.py)
        ({"base_width": 128}, 124_121_731),  # UNetWide
        ({"skips": True}, 31_037_763),  # milesial UNet, bilinear=False
    ],
)
def test_unet_parameter_counts(opts: dict, expected: int) -> None:
    with torch.device("meta"):  # count only: no memory, no init cost
        assert n_params(build("unet", 64, **opts)) == expected


@pytest.mark.parametrize(("res", "expected"), [(128, 56_211_759), (256, 68_512_047)])
def test_unet_hidden_parameter_counts(res: int, expected: int) -> None:
    """UNet_hidden with Hidden_128 (128²) and Hidden (256²) from the original code."""
    with torch.device("meta"):
        assert n_params(build("unet", res, bottleneck="linear:100")) == expected


@pytest.mark.parametrize(
    ("name", "res", "opts", "message"),
    [
        ("vae", 32, {}, "unknown model 'vae'; known models: mlp, unet, attn-unet"),
        ("unet", 48, {}, "power of two"),
        ("unet", 8, {"depth": 4}, "outside 32..512"),
        ("unet", 32, {"depth": 5}, "too small for depth 5"),
        ("unet", 1024, {}, "outside 32..512"),
        ("mlp", 256, {}, "outside 8..128"),
        ("unet", 64, {"width": 8}, "unknown option 'width' for model 'unet'"),
        ("unet", 64, {"bottleneck": "linear"}, "linear:N"),
        ("unet", 64, {"bottleneck": "linear:0"}, "linear:N"),
        ("unet", 64, {"bottleneck": "conv:4"}, "linear:N"),
        ("unet", 64, {"base_width": 0}, "base_width must be >= 1"),
        ("unet", 64, {"depth": 0}, "depth must be in 1..6"),
        ("unet", 512, {"depth": 7}, "depth must be in 1..6"),
        ("unet", 64, {"depth": 2.0}, "must be int"),
        ("unet", 64, {"skips": 1}, "must be bool"),
        ("mlp", 32, {"width": 0}, "width must be >= 1"),
        ("mlp", 32, {"width": True}, "must be int"),
        ("attn-unet", 64, {"base_width": 12}, "multiple of 8"),
        ("attn-unet", 64, {"skips": True}, "unknown option 'skips'"),
    ],
)
def test_validate_rejects(name: str, res: int, opts: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        validate(name, res, **opts)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError):
        build(name, res, **opts)


def test_validate_accepts_defaults_and_article_variants() -> None:
    """Accepted (no ValueError), resolved to the full options, and built as such."""
    variants = [(name, 64, defaults(name)) for name in MODEL_NAMES] + [
        ("unet", 512, {"base_width": 128, "depth": 5}),
        ("unet", 64, {"bottleneck": "linear:100", "skips": False}),
    ]
    for name, res, opts in variants:
        assert validate(name, res, **opts) is None
        full = {**defaults(name), **opts}
        assert resolve(name, res, **opts) == full
        with torch.device("meta"):  # built, not allocated
            assert build(name, res, **opts).config == {"name": name, "res": res, "options": full}


def test_options_describe_defaults() -> None:
    assert set(OPTIONS) == set(MODEL_NAMES)
    for name in MODEL_NAMES:
        assert {opt.name: opt.default for opt in OPTIONS[name]} == defaults(name)
        assert all(opt.help for opt in OPTIONS[name])
    assert defaults("unet") == {"base_width": 64, "depth": 4, "skips": False, "bottleneck": None}
    assert defaults("mlp") == {"width": 4000, "hidden_layers": 5}


def test_catalog_import_does_not_import_torch() -> None:
    code = (
        "import sys, aetui.models.catalog, aetui.models; "
        "aetui.models.validate('unet', 64); "
        "print('torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
