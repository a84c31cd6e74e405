"""The research code `my_ae.py` wraps: an encoder and a decoder of small convolutions.

aetui snapshots this file too when you queue `my_ae.py:ConvAE` (it reads `my_ae.py`'s
imports and takes the modules of its own folder).
"""

import torch
from torch import nn


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "group":
        return nn.GroupNorm(min(4, channels), channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be group, batch or none, not {kind!r}")


class Encoder(nn.Module):
    """(N, 3, res, res) -> (N, latent): two stride-2 convolutions, then a linear layer."""

    def __init__(self, res: int, width: int, latent: int, norm: str):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), norm_layer(norm, width), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), norm_layer(norm, width), nn.ReLU(),
        )
        self.fc = nn.Linear(width * (res // 4) ** 2, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


class Decoder(nn.Module):
    """(N, latent) -> (N, 3, res, res): the encoder's mirror."""

    def __init__(self, res: int, width: int, latent: int, norm: str):
        super().__init__()
        self.width, self.side = width, res // 4
        self.fc = nn.Linear(latent, width * self.side ** 2)
        self.deconv = nn.Sequential(
            nn.ReLU(), nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), norm_layer(norm, width), nn.ReLU(),
            nn.ConvTranspose2d(width, 3, 4, stride=2, padding=1),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.deconv(self.fc(h).view(-1, self.width, self.side, self.side))
