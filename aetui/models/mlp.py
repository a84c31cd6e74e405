"""Overcomplete fully connected autoencoder (the article's CIFAR-10 model, E1).

Flatten, Linear(3*res*res -> W) -> GELU -> BatchNorm1d(W), then `hidden_layers` x
[Linear(W -> W) -> GELU], then Linear(W -> 3*res*res), reshaped; no output activation.
Unlike the original code every layer is a registered submodule, so all of them train,
and any batch size works.
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn


class MLPAutoencoder(nn.Module):
    """Encoder: input layer + the first ceil(hidden_layers / 2) hidden layers; decoder: the rest."""

    def __init__(self, res: int, width: int, hidden_layers: int) -> None:
        super().__init__()
        self.config = {
            "name": "mlp",
            "res": res,
            "options": {"width": width, "hidden_layers": hidden_layers},
        }
        pixels = 3 * res * res
        first = nn.Sequential(
            nn.Flatten(), nn.Linear(pixels, width), nn.GELU(), nn.BatchNorm1d(width)
        )
        layers: list[tuple[str, nn.Module]] = [("input", first)]
        layers += [
            (f"hidden{i}", nn.Sequential(nn.Linear(width, width), nn.GELU()))
            for i in range(1, hidden_layers + 1)
        ]
        last = nn.Sequential(nn.Linear(width, pixels), nn.Unflatten(1, (3, res, res)))
        layers.append(("output", last))
        split = 1 + math.ceil(hidden_layers / 2)
        self.encoder = nn.Sequential(OrderedDict(layers[:split]))
        self.decoder = nn.Sequential(OrderedDict(layers[split:]))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, res, res) -> (N, width)."""
        return self.encoder(x)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        """(N, width) -> (N, 3, res, res)."""
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def probe_layers(self) -> dict[str, nn.Module]:
        """Keys input, hidden1..hiddenK, output, in forward order."""
        return {**dict(self.encoder.named_children()), **dict(self.decoder.named_children())}
