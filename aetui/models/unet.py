"""U-Net autoencoder (the article's E3 model, after milesial/Pytorch-UNet, bilinear=False).

Skips are off by default, as in the article: each Up block then concatenates the upsampled
tensor with itself, which keeps channel and parameter counts equal to the standard U-Net
while the decoder sees only the deepest feature map. With `skips=True` the Up block
concatenates the encoder's tensor (the standard U-Net, which learns the identity).

`bottleneck="linear:N"` inserts the article's "hidden MLP" after the deepest level:
Conv(C -> C/4, k4 s2) -> flatten -> Linear(-> 500) -> Linear(500 -> N) -> Linear(N -> 500)
-> Linear(500 -> C * (s/k)^2) -> reshape -> ConvTranspose(C -> C, k, stride k), where s is the
deepest level's size and k = min(4, s) (the original's k = 4; s = 2 needs k = 2). No
nonlinearity between the linears, like the original.
"""

from __future__ import annotations

import torch
from torch import nn

from aetui.models.catalog import bottleneck_size

HIDDEN_MLP_WIDTH = 500  # the original Hidden module's intermediate width


def double_conv(cin: int, cout: int) -> nn.Sequential:
    """(conv3x3 without bias -> BatchNorm -> ReLU) twice."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.MaxPool2d(2), double_conv(cin, cout))


class Up(nn.Module):
    """ConvTranspose2d(cin -> cin/2, k2 s2), concat back to cin channels, DoubleConv -> cout."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = double_conv(cin, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        x = self.up(x)
        return self.conv(torch.cat([x if skip is None else skip, x], dim=1))


def linear_bottleneck(channels: int, size: int, latent: int) -> tuple[nn.Sequential, nn.Sequential]:
    """(squeeze: (C, s, s) -> (latent,), expand: (latent,) -> (C, s, s)); see the module doc."""
    squeezed = max(1, channels // 4)
    k = min(4, size)
    squeeze = nn.Sequential(
        nn.Conv2d(channels, squeezed, 4, stride=2, padding=1),
        nn.Flatten(),
        nn.Linear(squeezed * (size // 2) ** 2, HIDDEN_MLP_WIDTH),
        nn.Linear(HIDDEN_MLP_WIDTH, latent),
    )
    expand = nn.Sequential(
        nn.Linear(latent, HIDDEN_MLP_WIDTH),
        nn.Linear(HIDDEN_MLP_WIDTH, channels * (size // k) ** 2),
        nn.Unflatten(1, (channels, size // k, size // k)),
        nn.ConvTranspose2d(channels, channels, k, stride=k),
    )
    return squeeze, expand


class UNet(nn.Module):
    """Widths base_width * 2**i for i = 0..depth; encoder inc + downs, decoder ups + outc."""

    def __init__(
        self, res: int, base_width: int, depth: int, skips: bool, bottleneck: str | None
    ) -> None:
        super().__init__()
        self.config = {
            "name": "unet",
            "res": res,
            "options": {
                "base_width": base_width,
                "depth": depth,
                "skips": skips,
                "bottleneck": bottleneck,
            },
        }
        self.skips = skips
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.inc = double_conv(3, widths[0])
        self.downs = nn.ModuleList(down(widths[i], widths[i + 1]) for i in range(depth))
        self.squeeze: nn.Module | None = None
        self.expand: nn.Module | None = None
        if bottleneck is not None:
            size = res // 2**depth
            self.squeeze, self.expand = linear_bottleneck(
                widths[-1], size, bottleneck_size(bottleneck)
            )
        self.ups = nn.ModuleList(Up(widths[i + 1], widths[i]) for i in reversed(range(depth)))
        self.outc = nn.Conv2d(widths[0], 3, 1)

    def _encoder(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps of inc and every down level, shallowest first."""
        feats = [self.inc(x)]
        for level in self.downs:
            feats.append(level(feats[-1]))
        return feats

    def _decoder(self, h: torch.Tensor, skips: list[torch.Tensor] | None) -> torch.Tensor:
        x = h if self.expand is None else self.expand(h)
        for i, level in enumerate(self.ups):
            x = level(x, None if skips is None else skips[-2 - i])
        return self.outc(x)

    def _check_latent(self) -> None:
        if self.skips:
            raise RuntimeError("a U-Net with skips has no encode/decode split (supports_latent)")

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The deepest feature map, or the N-d vector with a linear bottleneck."""
        self._check_latent()
        h = self._encoder(x)[-1]
        return h if self.squeeze is None else self.squeeze(h)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        self._check_latent()
        return self._decoder(h, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.skips:
            return self.decode(self.encode(x))
        feats = self._encoder(x)
        h = feats[-1] if self.squeeze is None else self.squeeze(feats[-1])
        return self._decoder(h, feats)

    def probe_layers(self) -> dict[str, nn.Module]:
        """inc, down1.., bottleneck, up1..up{depth}, output, in forward order.

        "bottleneck" is the linear bottleneck's N-d latent where there is one (after
        down1..down{depth}); otherwise it is the deepest down level itself.
        """
        layers: dict[str, nn.Module] = {"inc": self.inc}
        layers.update({f"down{i}": level for i, level in enumerate(self.downs, 1)})
        if self.squeeze is None:
            layers["bottleneck"] = layers.pop(f"down{len(self.downs)}")
        else:
            layers["bottleneck"] = self.squeeze
        layers.update({f"up{i}": level for i, level in enumerate(self.ups, 1)})
        layers["output"] = self.outc
        return layers
