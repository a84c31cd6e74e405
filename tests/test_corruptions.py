"""aetui.corruptions: the text syntax, its errors, and the statistics of each corruption."""

from __future__ import annotations

import pytest
import torch

from aetui.corruptions import CORRUPTIONS, Corruption, apply, parse_corruption, parse_levels


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------------ parsing

@pytest.mark.parametrize("text, expected", [
    ("mix", Corruption("mix", 0.3, (("mu", 0.7), ("sigma", 0.2)))),
    ("mix:0.5", Corruption("mix", 0.5, (("mu", 0.7), ("sigma", 0.2)))),
    ("MIX:0.3,sigma=0.1,mu=0.5", Corruption("mix", 0.3, (("mu", 0.5), ("sigma", 0.1)))),
    ("mix:mu=0.6", Corruption("mix", 0.3, (("mu", 0.6), ("sigma", 0.2)))),
    ("gauss:0.1", Corruption("gauss", 0.1)),
    ("saltpepper:0.05", Corruption("saltpepper", 0.05)),
    ("mask", Corruption("mask", 0.25)),
    ("blur:2", Corruption("blur", 2.0)),
])
def test_parse_and_round_trip(text: str, expected: Corruption) -> None:
    c = parse_corruption(text)
    assert c == expected
    assert parse_corruption(str(c)) == c


def test_canonical_text_and_dict() -> None:
    c = parse_corruption(" mix : 0.3 , mu = 0.5 ")
    assert str(c) == "mix:0.3,mu=0.5,sigma=0.2"
    assert c.as_dict() == {"name": "mix", "level": 0.3, "params": {"mu": 0.5, "sigma": 0.2}}
    assert str(parse_corruption("blur:2")) == "blur:2"
    assert set(CORRUPTIONS) == {"mix", "gauss", "saltpepper", "mask", "blur"}
    for name, info in CORRUPTIONS.items():
        assert info.allows(info.default) and info.help and info.level_name
        assert parse_corruption(name).level == info.default


@pytest.mark.parametrize("text, words", [
    ("speckle:0.1", ["unknown corruption", "mix", "gauss", "saltpepper", "mask", "blur"]),
    ("mix:1.5", ["alpha=1.5", "out of range", "[0, 1]"]),
    ("gauss:-0.1", ["sigma=-0.1", "[0, 10]"]),
    ("gauss:11", ["[0, 10]"]),
    ("blur:0", ["out of range", "(0, 20]"]),
    ("saltpepper:2", ["[0, 1]"]),
    ("mask:abc", ["bad mask level", "expected a number"]),
    ("mix:nan", ["expected a number"]),
    ("mix:0.3,foo=1", ["unknown parameter 'foo'", "mu, sigma"]),
    ("gauss:0.1,mu=1", ["unknown parameter 'mu'", "none"]),
    ("mix:0.3,sigma=-1", ["sigma=-1", "out of range"]),
    ("mix:0.3,mu=0.1,mu=0.2", ["given twice"]),
    ("mix:0.3,0.4", ["expected key=value"]),
])
def test_parse_errors(text: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        parse_corruption(text)
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_parse_levels() -> None:
    assert parse_levels("0.9,0.7,0.5", "mix") == [0.9, 0.7, 0.5]
    assert parse_levels("0.5", "gauss") == [0.5]
    grid = parse_levels("0.05:0.8:8", "mix")
    assert len(grid) == 8 and grid[0] == 0.05 and grid[-1] == 0.8
    assert all(abs((b - a) - 0.75 / 7) < 1e-12 for a, b in zip(grid, grid[1:]))
    assert parse_levels("1:0:3", "mask") == [1.0, 0.5, 0.0]


@pytest.mark.parametrize("text, name, words", [
    ("0.9,1.2", "mix", ["alpha=1.2", "[0, 1]"]),
    ("0:2:3", "blur", ["sigma=0", "(0, 20]"]),
    ("0.1:0.5", "mix", ["start:stop:count"]),
    ("0.1:0.5:1", "mix", ["count", ">= 2"]),
    ("0.1:0.5:x", "mix", ["count"]),
    ("0.1,,0.2", "mix", ["bad level"]),
    ("", "mix", ["empty level list"]),
    ("0.1", "noise", ["unknown corruption"]),
])
def test_parse_levels_errors(text: str, name: str, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        parse_levels(text, name)
    assert "\n" not in str(err.value)
    for word in words:
        assert word in str(err.value)


# ------------------------------------------------------------------------- apply

def test_mix_endpoints_and_statistics() -> None:
    x = torch.rand(4, 3, 16, 16, generator=_gen(1))
    c = parse_corruption("mix")
    assert torch.equal(apply(x, c, level=1.0, generator=_gen()), x)
    noise = apply(torch.rand(8, 3, 64, 64), c, level=0.0, generator=_gen())
    assert abs(noise.mean().item() - 0.7) < 0.01 and abs(noise.std().item() - 0.2) < 0.01
    custom = apply(torch.zeros(8, 3, 64, 64), parse_corruption("mix:0,mu=0.5,sigma=0.1"),
                   generator=_gen())
    assert abs(custom.mean().item() - 0.5) < 0.01 and abs(custom.std().item() - 0.1) < 0.01


def test_mix_hand_check_from_the_seed_notes() -> None:
    # x = 0.5, alpha 0.3: E[(x' - x)^2] = 0.49 * (sigma^2 + (mu - x)^2) = 0.49 * 0.08
    x = torch.full((8, 3, 64, 64), 0.5)
    mse = (apply(x, parse_corruption("mix:0.3"), generator=_gen()) - x).pow(2).mean().item()
    assert mse == pytest.approx(0.49 * 0.08, rel=0.03)


def test_gauss_statistics_and_no_clamp() -> None:
    x = torch.full((8, 3, 64, 64), 0.5)
    out = apply(x, parse_corruption("gauss:0.3"), generator=_gen())
    diff = out - x
    assert abs(diff.mean().item()) < 0.01 and abs(diff.std().item() - 0.3) < 0.01
    assert out.min() < 0.0 and out.max() > 1.0
    mixed = apply(torch.rand(8, 3, 32, 32), parse_corruption("mix:0.1"), generator=_gen())
    assert mixed.min() < 0.0 or mixed.max() > 1.0


def test_saltpepper_fraction_and_whole_pixels() -> None:
    x = torch.full((4, 3, 64, 64), 0.5)
    out = apply(x, parse_corruption("saltpepper:0.2"), generator=_gen())
    assert ((out == 0) | (out == 1) | (out == 0.5)).all()
    assert (out == out[:, :1]).all()  # channels of a pixel change together
    salt, pepper = (out[:, 0] == 1).float().mean().item(), (out[:, 0] == 0).float().mean().item()
    assert salt == pytest.approx(0.1, abs=0.01) and pepper == pytest.approx(0.1, abs=0.01)


def test_mask_fraction() -> None:
    x = torch.rand(4, 3, 64, 64) + 0.1
    out = apply(x, parse_corruption("mask:0.3"), generator=_gen())
    zeroed = out == 0
    assert (zeroed == zeroed[:, :1]).all()
    assert zeroed[:, 0].float().mean().item() == pytest.approx(0.3, abs=0.015)
    assert torch.equal(out[~zeroed], x[~zeroed])


def test_blur() -> None:
    flat = torch.full((2, 3, 16, 16), 0.25)
    assert torch.allclose(apply(flat, parse_corruption("blur:2")), flat, atol=1e-6)
    noise = torch.rand(2, 3, 32, 32, generator=_gen())
    blurred = apply(noise, parse_corruption("blur:1.5"))
    assert blurred.shape == noise.shape
    assert blurred.var() < 0.2 * noise.var()
    assert abs(blurred.mean() - noise.mean()) < 0.01
    huge = apply(torch.rand(1, 3, 8, 8), parse_corruption("blur:20"))  # kernel capped to 7
    assert huge.shape == (1, 3, 8, 8) and torch.isfinite(huge).all()


@pytest.mark.parametrize("text", ["mix", "gauss:0.2", "saltpepper:0.1", "mask:0.4"])
def test_seeded_generator_is_deterministic(text: str) -> None:
    x = torch.rand(2, 3, 16, 16, generator=_gen(9))
    c = parse_corruption(text)
    assert torch.equal(apply(x, c, generator=_gen(3)), apply(x, c, generator=_gen(3)))
    assert not torch.equal(apply(x, c, generator=_gen(3)), apply(x, c, generator=_gen(4)))


def test_apply_checks_the_level_override() -> None:
    with pytest.raises(ValueError, match="out of range"):
        apply(torch.zeros(1, 3, 8, 8), parse_corruption("mix"), level=2.0)
