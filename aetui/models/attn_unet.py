"""U-Net autoencoder with attention (the article's E8 model), skips kept.

Layout, for widths w_i = base_width * 2**i (i = 0..depth), in forward order:

    init    conv7x7 3 -> w_0
    enc1..  one per level i = 0..depth-1, at res / 2**i and width w_i: ResBlock, ResBlock,
            linear attention; its output is kept as a skip, then conv4x4 stride 2 to w_{i+1}
    mid     ResBlock, dot-product multi-head attention, ResBlock (res / 2**depth, w_depth)
    dec1..  deepest first, one per level i = depth-1..0: ConvTranspose4x4 stride 2 to w_i,
            concat level i's skip, ResBlock, ResBlock, linear attention
    output  ResBlock, conv1x1 w_0 -> 3, no activation

ResBlocks use GroupNorm(8) + SiLU; attention blocks are residual and pre-normed with
GroupNorm(1). This follows the annotated-diffusion U-Net of the original
attention_unet_autoencoder.py without its time embedding and without its
"0.05*x + 0.95*noise" replacement of the residual adds.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

HEADS = 4
DIM_HEAD = 32


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.GroupNorm(8, cout),
            nn.SiLU(),
            nn.Conv2d(cout, cout, 3, padding=1),
            nn.GroupNorm(8, cout),
            nn.SiLU(),
        )
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


class LinearAttention(nn.Module):
    """Attention in O(H*W): softmax over features for queries and over positions for keys,
    so keys and values reduce to a (dim_head x dim_head) context per head first."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = HEADS * DIM_HEAD
        self.qkv = nn.Conv2d(channels, 3 * hidden, 1, bias=False)
        self.out = nn.Sequential(nn.Conv2d(hidden, channels, 1), nn.GroupNorm(1, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        q, k, v = self.qkv(x).reshape(n, 3, HEADS, DIM_HEAD, h * w).unbind(1)
        q = q.softmax(dim=-2) * DIM_HEAD**-0.5
        context = k.softmax(dim=-1) @ v.transpose(-1, -2)  # (n, heads, d_k, d_v)
        out = context.transpose(-1, -2) @ q  # (n, heads, d_v, h*w)
        return self.out(out.reshape(n, HEADS * DIM_HEAD, h, w))


class Attention(nn.Module):
    """Dot-product multi-head self-attention over the H*W positions."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = HEADS * DIM_HEAD
        self.qkv = nn.Conv2d(channels, 3 * hidden, 1, bias=False)
        self.out = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        qkv = self.qkv(x).reshape(n, 3, HEADS, DIM_HEAD, h * w).transpose(-1, -2)
        out = F.scaled_dot_product_attention(*qkv.unbind(1))  # (n, heads, h*w, d)
        return self.out(out.transpose(-1, -2).reshape(n, HEADS * DIM_HEAD, h, w))


class PreNormResidual(nn.Module):
    """x + fn(GroupNorm(1)(x))."""

    def __init__(self, channels: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, channels)
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fn(self.norm(x))


def level(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        ResBlock(cin, cout),
        ResBlock(cout, cout),
        PreNormResidual(cout, LinearAttention(cout)),
    )


class UpLevel(nn.Module):
    """Upsample w_{i+1} -> w_i, concatenate the skip, then a level at 2*w_i -> w_i."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)
        self.body = level(2 * cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([skip, self.up(x)], dim=1))


class AttentionUNet(nn.Module):
    """See the module docstring for the layout; no encode/decode split (skips are kept)."""

    def __init__(self, res: int, base_width: int, depth: int) -> None:
        super().__init__()
        self.config = {
            "name": "attn-unet",
            "res": res,
            "options": {"base_width": base_width, "depth": depth},
        }
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.init = nn.Conv2d(3, widths[0], 7, padding=3)
        self.encs = nn.ModuleList(level(widths[i], widths[i]) for i in range(depth))
        self.downsamples = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1) for i in range(depth)
        )
        self.mid = nn.Sequential(
            ResBlock(widths[-1], widths[-1]),
            PreNormResidual(widths[-1], Attention(widths[-1])),
            ResBlock(widths[-1], widths[-1]),
        )
        self.decs = nn.ModuleList(UpLevel(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.output = nn.Sequential(ResBlock(widths[0], widths[0]), nn.Conv2d(widths[0], 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.init(x)
        skips = []
        for enc, downsample in zip(self.encs, self.downsamples):
            x = enc(x)
            skips.append(x)
            x = downsample(x)
        x = self.mid(x)
        for dec in self.decs:
            x = dec(x, skips.pop())
        return self.output(x)

    def probe_layers(self) -> dict[str, nn.Module]:
        """init, enc1..enc{depth}, mid, dec1..dec{depth}, output, in forward order."""
        return {
            "init": self.init,
            **{f"enc{i}": enc for i, enc in enumerate(self.encs, 1)},
            "mid": self.mid,
            **{f"dec{i}": dec for i, dec in enumerate(self.decs, 1)},
            "output": self.output,
        }
