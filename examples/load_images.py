"""Your own images, for `aetui queue ... --data py:examples/load_images.py:images`.

aetui calls the function with no arguments in the job's process. It returns uint8 images,
N x H x W x 3 (or N x 3 x H x W), as a numpy array or a torch tensor; aetui resizes them to
`--res` (center crop, antialiased), as it does a folder of images, and holds out the same
seeded share for evaluation. Here: 48 soft colour gradients with a disc, 40 x 40 pixels.
"""

import numpy as np


def images(count: int = 48, side: int = 40) -> np.ndarray:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:side, 0:side] / (side - 1)
    out = np.empty((count, side, side, 3), dtype=np.uint8)
    for i in range(count):
        a, b = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        img = a * x[..., None] + b * (1 - y[..., None])
        cy, cx, r = rng.uniform(0.25, 0.75, 2).tolist() + [rng.uniform(0.1, 0.3)]
        disc = (y - cy) ** 2 + (x - cx) ** 2 < r * r
        img[disc] = rng.uniform(0, 1, 3)
        out[i] = (np.clip(img / max(img.max(), 1e-6), 0, 1) * 255).astype(np.uint8)
    return out


def wrong_dtype() -> np.ndarray:
    """Float images: aetui refuses them with one line (for the tests)."""
    return images().astype(np.float32) / 255
