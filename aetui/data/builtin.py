"""Procedural landscapes: the offline, deterministic default data set.

Every image is painted back to front from a handful of random parameters: a sky
gradient in one of several lighting palettes, a sun or moon with its glow, fractal
clouds, up to four mountain ridges whose colour fades into the horizon with distance,
a tree line or a village, and either textured ground or a lake that mirrors the
scene. Ridges, tree lines and buildings are 1-D height profiles, so a layer is one
comparison of each row with a per-column height; everything is vectorised over a chunk
of images and drawn at the target resolution directly.

The images are smooth and strongly correlated (as photos are), so denoising them is
a meaningful task, yet no two are alike.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from aetui.data.sources import BUILTIN_RESOLUTIONS as RESOLUTIONS
_PIXELS_PER_CHUNK = 1 << 16  # small chunks keep temporaries in cache and row bands tight
_RIDGES = 4

# Lighting palettes: zenith, horizon, sun (or moon), cloud colour; then land brightness.
_SCENES = {
    #           zenith              horizon             sun                 cloud            light
    "day":      ((0.18, 0.40, 0.80), (0.68, 0.82, 0.96), (1.00, 0.98, 0.90), (0.97, 0.97, 0.98), 1.00),
    "sunset":   ((0.22, 0.20, 0.48), (1.00, 0.58, 0.28), (1.00, 0.86, 0.55), (0.96, 0.55, 0.42), 0.55),
    "dawn":     ((0.42, 0.52, 0.80), (1.00, 0.80, 0.68), (1.00, 0.95, 0.85), (1.00, 0.86, 0.84), 0.80),
    "overcast": ((0.52, 0.56, 0.62), (0.80, 0.82, 0.84), (0.95, 0.95, 0.92), (0.66, 0.67, 0.71), 0.72),
    "dusk":     ((0.10, 0.10, 0.28), (0.66, 0.40, 0.55), (1.00, 0.72, 0.60), (0.50, 0.36, 0.46), 0.40),
    "night":    ((0.02, 0.03, 0.10), (0.10, 0.15, 0.30), (0.95, 0.95, 0.86), (0.22, 0.24, 0.32), 0.25),
}
_SCENE_P = (0.38, 0.20, 0.14, 0.12, 0.09, 0.07)
_SUN_P = (0.6, 0.9, 0.7, 0.15, 0.35, 0.75)  # chance the sun/moon disc is in view, per scene

_MOUNTAIN = ((0.34, 0.40, 0.52), (0.26, 0.42, 0.26), (0.46, 0.36, 0.26),
             (0.40, 0.35, 0.50), (0.66, 0.52, 0.36), (0.42, 0.44, 0.40))
_GROUND = ((0.30, 0.50, 0.18), (0.60, 0.55, 0.28), (0.80, 0.66, 0.44),
           (0.38, 0.44, 0.20), (0.20, 0.32, 0.14))
_FOLIAGE = ((0.10, 0.24, 0.10), (0.16, 0.28, 0.08), (0.08, 0.18, 0.12))
_WALLS = ((0.85, 0.80, 0.70), (0.75, 0.55, 0.40), (0.90, 0.90, 0.88), (0.60, 0.55, 0.50))
_ROOFS = ((0.55, 0.20, 0.15), (0.30, 0.25, 0.25), (0.45, 0.30, 0.20))


def default_count(res: int) -> int:
    """How many images ``builtin`` means without an explicit count."""
    return 2048 if res <= 64 else {128: 512, 256: 256}.get(res, 128)


def generate(count: int, res: int, seed: int, *, stream: int = 0, progress=None) -> np.ndarray:
    """``count`` landscapes as uint8 ``(count, res, res, 3)``; same arguments, same bytes.

    ``stream`` selects an independent sequence for the same seed (the held-out split);
    ``progress(done)``, if given, is called after each chunk with the images made so far.
    """
    if res not in RESOLUTIONS:
        raise ValueError(f"builtin images need a power-of-two resolution in 32..512, got {res}")
    if count < 0:
        raise ValueError(f"image count must be >= 0, got {count}")
    rng = np.random.default_rng([stream, seed & 0xFFFF_FFFF_FFFF_FFFF])
    out = np.empty((count, res, res, 3), np.uint8)
    chunk = max(1, _PIXELS_PER_CHUNK // (res * res))
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        img = _Painter(rng, n, res).paint()
        np.multiply(img, 255.0, out=img)
        np.add(img, 0.5, out=img)
        np.clip(img, 0.0, 255.0, out=img)
        out[start:start + n] = img.transpose(0, 2, 3, 1)
        if progress is not None:
            progress(start + n)
    return out


# --------------------------------------------------------------------------- noise

def _smooth(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


@lru_cache(maxsize=64)
def _interp_index(cells: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Left knot and smoothed fraction for ``size`` samples across ``cells`` cells."""
    t = (np.arange(size) + 0.5) * (cells / size)
    i = np.minimum(t.astype(np.int64), cells - 1)
    return i, _smooth(t - i).astype(np.float32)


def _fbm_1d(rng: np.random.Generator, n: int, size: int, cells: int) -> np.ndarray:
    """Summed-octave value noise along x, ``(n, 1, 1, size)``, roughly in [-1, 1]."""
    out = np.zeros((n, size), np.float32)
    amp, total = 1.0, 0.0
    while cells <= size // 2:
        knots = rng.uniform(-1.0, 1.0, (n, cells + 1)).astype(np.float32)
        i, f = _interp_index(cells, size)
        out += amp * (knots[:, i] * (1.0 - f) + knots[:, i + 1] * f)
        total += amp
        amp *= 0.5
        cells *= 2
    return (out / total)[:, None, None, :]


def _fbm_2d(rng: np.random.Generator, n: int, size: int, cells_y: int, cells_x: int,
            octaves: int, rows: slice, gain: float = 0.5) -> np.ndarray:
    """Summed-octave 2-D value noise on ``rows``, ``(n, 1, len(rows), size)``, about [-1, 1].

    More cells along an axis means smaller features along it: ``cells_y > cells_x``
    gives horizontally stretched blobs (clouds, fields seen in perspective).
    """
    out = np.zeros((n, len(range(size)[rows]), size), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        if max(cells_y, cells_x) > size // 2:
            break
        knots = rng.uniform(-1.0, 1.0, (n, cells_y + 1, cells_x + 1)).astype(np.float32)
        ix, fx = _interp_index(cells_x, size)
        iy, fy = _interp_index(cells_y, size)
        iy, fy = iy[rows], amp * fy[rows, None]
        across = knots[:, :, ix] * (1.0 - fx) + knots[:, :, ix + 1] * fx  # (n, cells_y + 1, W)
        out += np.take(across, iy, axis=1) * (amp - fy) + np.take(across, iy + 1, axis=1) * fy
        total += amp
        amp *= gain
        cells_y, cells_x = cells_y * 2, cells_x * 2
    return (out / total)[:, None]


# ------------------------------------------------------------------------- painter
#
# Layout is channels-first throughout: images (n, 3, H, W), scalar fields (n, 1, H, W),
# x profiles (n, 1, 1, W), per-image numbers (n, 1, 1, 1), colours (n, 3, 1, 1).
# (numpy is an order of magnitude slower broadcasting over a trailing axis of 3.)
# Each layer only touches the band of rows it can reach, which halves the work.

class _Painter:
    """Paints one chunk of ``n`` images; each method adds one layer onto ``self.img``."""

    def __init__(self, rng: np.random.Generator, n: int, res: int):
        self.rng, self.n, self.res = rng, n, res
        coords = (np.arange(res, dtype=np.float32) + 0.5) / res
        self.y = coords[None, None, :, None]
        self.x = coords[None, None, None, :]
        names = list(_SCENES)
        scene = rng.choice(len(names), n, p=_SCENE_P)
        palette = [_SCENES[names[s]] for s in scene]
        self.zenith, self.horizon_col, self.sun_col, self.cloud_col = (
            self.colour([p[j] for p in palette], 0.12) for j in range(4))
        self.light = self.uniform(0.85, 1.15) * np.asarray(
            [p[4] for p in palette], np.float32)[:, None, None, None]
        self.sun_visible = (rng.random(n) < np.asarray(_SUN_P)[scene])[:, None, None, None]
        self.is_night = (scene == names.index("night"))[:, None, None, None]
        self.horizon = self.uniform(0.45, 0.8)
        self.sun_x = self.uniform(0.1, 0.9)
        low = np.isin(scene, [names.index(k) for k in ("sunset", "dawn", "dusk")])
        up = np.where(low[:, None, None, None], self.uniform(0.6, 0.95), self.uniform(0.1, 0.6))
        self.sun_y = (up * self.horizon).astype(np.float32)
        self.img = np.zeros((n, 3, res, res), np.float32)
        # Everything above the land: sky, clouds and ridges stop a little below the horizon.
        self.upper = self.band(0.0, float(self.horizon.max()) + 0.05)

    # helpers -------------------------------------------------------------------

    def uniform(self, lo: float, hi: float, items: int = 1) -> np.ndarray:
        """Per-image random numbers, ``(n, items, 1, 1)``."""
        return self.rng.uniform(lo, hi, (self.n, items, 1, 1)).astype(np.float32)

    def chance(self, p: float) -> np.ndarray:
        return self.rng.random((self.n, 1, 1, 1)) < p

    def colour(self, rgb, jitter: float) -> np.ndarray:
        """``(n, 3)`` colours with a per-channel multiplicative jitter, as ``(n, 3, 1, 1)``."""
        c = np.asarray(rgb, np.float32) * self.rng.uniform(1 - jitter, 1 + jitter, (self.n, 3))
        return np.clip(c, 0.0, 1.0).astype(np.float32)[:, :, None, None]

    def pick(self, table, jitter: float) -> np.ndarray:
        return self.colour(np.asarray(table)[self.rng.integers(0, len(table), self.n)], jitter)

    def band(self, top: float, bottom: float) -> slice:
        """The rows from y = ``top`` to y = ``bottom`` with a pixel of margin."""
        return slice(max(0, int(top * self.res) - 1), min(self.res, int(bottom * self.res) + 2))

    def coverage(self, edge: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Anti-aliased mask of the pixels below ``edge`` (an x profile of y values)."""
        return np.clip((y - edge) * self.res + 0.5, 0.0, 1.0)

    def blend(self, rows: slice, alpha: np.ndarray, colour: np.ndarray) -> None:
        img = self.img[:, :, rows]
        img += alpha * (colour - img)

    # layers, back to front ------------------------------------------------------

    def paint(self) -> np.ndarray:
        rng, n, res = self.rng, self.n, self.res
        self.sky()
        self.sun()
        self.clouds()
        self.ridges()
        water = self.chance(0.35)
        hills = self.horizon + self.uniform(0.005, 0.04) * _fbm_1d(rng, n, res, 2)
        base = np.where(water, self.horizon, hills).astype(np.float32)
        self.skyline(base)
        self.ground(base, ~water)
        self.water(water)
        bank = 1.0 - self.uniform(0.04, 0.2) + 0.03 * _fbm_1d(rng, n, res, 2)
        self.ground(bank.astype(np.float32), water & self.chance(0.4))
        self.img *= 1.0 - self.uniform(0.0, 0.5) * ((self.x - 0.5) ** 2 + (self.y - 0.5) ** 2)
        return self.img

    def sky(self) -> None:
        y = self.y[:, :, self.upper]
        t = np.clip(y / self.horizon, 0.0, 1.0) ** self.uniform(0.5, 1.5)
        self.img[:, :, self.upper] = self.zenith + t * (self.horizon_col - self.zenith)

    def sun(self) -> None:
        y = self.y[:, :, self.upper]
        radius = np.where(self.is_night, self.uniform(0.02, 0.045), self.uniform(0.025, 0.07))
        dist = np.sqrt((self.x - self.sun_x) ** 2 + (y - self.sun_y) ** 2)
        glow_r = radius * self.uniform(3.0, 8.0)
        strength = self.uniform(0.15, 0.6) * np.where(self.sun_visible, 1.0, 0.3)
        self.img[:, :, self.upper] += (strength * np.exp(-(dist / glow_r) ** 2)) * self.sun_col
        disc = np.clip((radius - dist) * (self.res / 1.5) + 0.5, 0.0, 1.0)
        self.blend(self.upper, disc * self.sun_visible, self.sun_col)

    def clouds(self) -> None:
        y = self.y[:, :, self.upper]
        noise = _fbm_2d(self.rng, self.n, self.res, int(self.rng.integers(4, 8)), 2,
                        octaves=6, rows=self.upper, gain=0.55)
        threshold = self.uniform(-0.15, 0.3)
        density = _smooth(np.clip((noise - threshold) / 0.3, 0.0, 1.0))
        density *= 1.0 - _smooth(np.clip(y / self.horizon, 0.0, 1.0)) ** 2
        density *= self.chance(0.7) * self.uniform(0.5, 0.95)
        shade = np.clip(0.8 + 0.8 * (noise - threshold), 0.65, 1.1)
        self.blend(self.upper, density, self.cloud_col * shade)

    def ridges(self) -> None:
        rng, n, res = self.rng, self.n, self.res
        count = rng.integers(1, _RIDGES + 1, (n, 1, 1, 1))
        relief = self.horizon * self.uniform(0.35, 1.0)
        rock = self.pick(_MOUNTAIN, 0.12) * self.light
        white = np.full((n, 3, 1, 1), 0.93, np.float32) * np.maximum(self.light, 0.4)
        fade_far = self.uniform(0.45, 0.85)
        mist = self.uniform(0.0, 0.7)
        snowy = self.chance(0.3)
        sun_side = np.sign(self.sun_x - 0.5)
        sharp = self.uniform(0.0, 1.0)
        reach = max(1, res // 24)  # slope over several pixels, so facets are not 1 px stripes
        profiles = []
        for k in range(_RIDGES):
            depth = (_RIDGES - 1 - k) / (_RIDGES - 1)  # 1 = farthest, 0 = nearest
            fbm = _fbm_1d(rng, n, res, int(rng.integers(2, 5)))
            shape = (1 - sharp) * (0.5 + 0.5 * fbm) + sharp * (1 - 1.6 * np.abs(fbm))
            h = relief * (0.2 + 0.8 * depth) * self.uniform(0.6, 1.1)
            top = (self.horizon - h * (0.15 + 0.85 * np.clip(shape, 0, 1))).astype(np.float32)
            profiles.append((depth, h, top))
        rows = self.band(min(float(t.min()) for _, _, t in profiles), self.upper.stop / res)
        y = self.y[:, :, rows]
        texture = _fbm_2d(rng, n, res, 6, 8, octaves=4, rows=rows)
        for k, (depth, h, top) in enumerate(profiles):
            alpha = self.coverage(top, y) * (k >= _RIDGES - count)
            padded = np.pad(top, ((0, 0), (0, 0), (0, 0), (reach, reach)), mode="edge")
            slope = (padded[..., 2 * reach:] - padded[..., :-2 * reach]) * (res / (2 * reach))
            facing = np.clip(slope * sun_side * 1.5, -1.0, 1.0)
            below = np.clip((y - top) / h, 0.0, 1.0)
            # Faces turned to the sun are lit, most strongly just below the crest.
            shade = (0.8 + 0.2 * facing * np.exp(-5.0 * below) + 0.1 * (1.0 - below)
                     + 0.12 * texture)
            snow_line = top.min(axis=-1, keepdims=True) + h * (0.3 + 0.1 * texture)
            snow = snowy * _smooth(np.clip((snow_line - y) * (res / 2.0) + 0.5, 0.0, 1.0))
            colour = (rock * (1.0 - 0.3 * (1.0 - depth)) + snow * (white - rock)) * shade
            # Aerial perspective: far ridges and valley floors dissolve into the horizon.
            haze = np.clip(fade_far * depth ** 0.8 + mist * below * (0.4 + 0.6 * depth), 0, 0.95)
            colour += haze * (self.horizon_col - colour)
            self.blend(rows, alpha, colour)

    def skyline(self, base: np.ndarray) -> None:
        """A tree line or a village standing on ``base`` (an x profile of y values)."""
        rng, n, items = self.rng, self.n, 28
        pos = self.uniform(0.0, 1.0) + self.uniform(0.2, 1.2) * (
            rng.random((n, items, 1, 1)).astype(np.float32) - 0.5)
        dx = np.abs(self.x - pos)[:, :, 0]  # (n, items, W)
        kind = rng.random((n, 1, 1, 1))
        trees, village = kind < 0.55, (kind >= 0.55) & (kind < 0.7)
        scale = self.uniform(0.03, 0.12)[:, :, 0]
        h = scale * self.uniform(0.5, 1.0, items)[:, :, 0]
        if trees.any():
            w = h * self.uniform(0.2, 0.45)[:, :, 0]
            u = np.clip(1.0 - dx / w, 0.0, 1.0)
            round_top = np.sqrt(np.clip(1.0 - (dx / w) ** 2, 0.0, 1.0))
            shape = np.where(self.chance(0.6)[:, :, 0], u, round_top)
            self._silhouette(base, h * shape, _FOLIAGE, _FOLIAGE, trees, walls=None)
        if village.any():
            half = scale * self.uniform(0.3, 0.7, items)[:, :, 0]
            inside = (dx < half) & (rng.random((n, items, 1)) < 0.35)  # a few houses, not a wall
            wall = 0.6 * h * inside
            roof = half * self.uniform(0.0, 0.9, items)[:, :, 0] * np.clip(1.0 - dx / half, 0, 1)
            self._silhouette(base, wall + roof * inside, _WALLS, _ROOFS, village, walls=wall)

    def _silhouette(self, base, profiles, body_table, top_table, which, walls) -> None:
        """Paint the upper envelope of ``profiles`` ``(n, items, W)``, one colour per item.

        With ``walls`` given, what rises above an item's wall takes the roof colour.
        """
        rng, n, items = self.rng, self.n, profiles.shape[1]
        front = profiles.argmax(axis=1)[:, None]  # (n, 1, W): the item seen in each column
        height = np.take_along_axis(profiles, front, axis=1)[:, None]
        rows = self.band(float((base - height).min()), float(base.max()))
        y = self.y[:, :, rows]
        body = np.asarray(body_table, np.float32)[rng.integers(0, len(body_table), (n, items))]
        body *= rng.uniform(0.8, 1.2, (n, items, 1)).astype(np.float32)
        body = np.take_along_axis(body, front.transpose(0, 2, 1), axis=1)  # (n, W, 3)
        colour = body.transpose(0, 2, 1)[:, :, None, :]  # (n, 3, 1, W)
        if walls is not None:
            wall_top = base - np.take_along_axis(walls, front, axis=1)[:, None]
            colour = np.where(y < wall_top, self.pick(top_table, 0.1), colour)
        colour = colour * self.light
        colour = colour + 0.15 * (self.horizon_col - colour)
        alpha = self.coverage(base - height, y) * np.clip(height * self.res, 0.0, 1.0)
        alpha *= (y < base + 2.0 / self.res) & which
        self.blend(rows, alpha, colour)

    def ground(self, base: np.ndarray, which: np.ndarray) -> None:
        """Textured land from ``base`` down, lighter and hazier towards the horizon."""
        if not which.any():
            return
        rows = self.band(float(base.min()), 1.0)
        y = self.y[:, :, rows]
        colour = self.pick(_GROUND, 0.1) * self.light
        texture = _fbm_2d(self.rng, self.n, self.res, int(self.rng.integers(6, 12)), 3,
                          octaves=6, rows=rows, gain=0.65)
        near = np.clip((y - base) / np.maximum(1.0 - base, 1e-3), 0.0, 1.0)
        paint = colour * ((1.0 + 0.6 * texture) * (1.0 - 0.35 * near))
        paint += 0.3 * (1.0 - near) * (self.horizon_col - paint)
        self.blend(rows, self.coverage(base, y) * which, paint)

    def water(self, which: np.ndarray) -> None:
        """A lake from the horizon down that mirrors the scene above it, with ripples."""
        if not which.any():
            return
        rng, n, res = self.rng, self.n, self.res
        rows = self.band(float(self.horizon.min()), 1.0)
        y = self.y[:, :, rows]
        below = np.clip((y - self.horizon) / (1.0 - self.horizon), 0.0, 1.0)
        mirror = np.clip(((2.0 * self.horizon - y) * res).astype(np.int64), 0, res - 1)
        wobble = _fbm_1d(rng, n, res, 8)[..., rows].transpose(0, 1, 3, 2)
        shift = np.round(wobble * self.uniform(0.003, 0.02) * res * (0.3 + below))
        cols = np.clip(np.arange(res) + shift.astype(np.int64), 0, res - 1)
        reflection = np.take_along_axis(np.take_along_axis(self.img, mirror, axis=2), cols, axis=3)
        reflection *= 0.85
        tint = np.asarray((0.10, 0.22, 0.30), np.float32)[:, None, None] * self.light
        paint = reflection + (0.15 + 0.45 * below) * (tint - reflection)
        paint *= 1.0 + 0.15 * _fbm_2d(rng, n, res, 16, 2, octaves=3, rows=rows)
        self.blend(rows, self.coverage(self.horizon, y) * which, paint)
