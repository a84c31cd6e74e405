"""A small autoencoder of your own, for `aetui queue examples/my_ae.py:ConvAE --res 32`.

aetui calls `ConvAE(res=res, **options)`, with the options given as `--opt key=value`
(`--opt latent=64 --opt norm=group`). The model maps (N, 3, res, res) to the same shape;
`encode`/`decode` make `aetui walk --mode latent` possible and `probe_layers()` makes
`aetui probe --layer encoder` possible (both optional: `examples/my_ae.py:plain` has
neither). The parts live in a sibling module, as a wrapper around a research repository's
code would: aetui snapshots both files.
"""

from torch import nn

from ae_parts import Decoder, Encoder


class ConvAE(nn.Module):
    def __init__(self, res: int, latent: int = 32, width: int = 8, norm: str = "group"):
        super().__init__()
        if res % 4:
            raise ValueError(f"res must be a multiple of 4, got {res}")
        self.encoder = Encoder(res, width, latent, norm)
        self.decoder = Decoder(res, width, latent, norm)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, h):
        return self.decoder(h)

    def forward(self, x):
        return self.decode(self.encode(x))

    def probe_layers(self) -> dict[str, nn.Module]:
        """Inner layers a probe may match, in forward order."""
        return {"encoder": self.encoder, "output": self.decoder}


def plain(res: int, width: int = 8) -> nn.Module:
    """A factory function: a plain convolutional autoencoder without encode/decode or
    probe layers (walks iterate and diffuse, and probes of its output, still work)."""
    return nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
        nn.Conv2d(width, 3, 3, padding=1),
    )
