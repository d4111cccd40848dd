"""Backgrounds for the training scenes, all local and seeded: crops of four of the app's sample photos
(assets/samples, credits in assets/samples/LICENSES.md) and procedural textures (smooth noise,
gradients, stripes). Nothing is downloaded.

Photo crops come only from regions that show none of the classes, stated per photo in PHOTOS
(fractions of width and height): the cat's face or the Falcon 9 would be an unlabelled animal or
vehicle behind the pasted ones, and the astronaut photo is not used at all. A crop's side is a share
(PHOTO_CROP) of the photo's shorter side, at most the region's, so it shows texture — wood, coffee,
fur, stars, the night sky and towers — enlarged to the scene's size.
"""
from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

from necklab import ASSETS

# photo → regions (x0, y0, x1, y1 as fractions) free of the classes' objects. Not astronaut.png: the
# astronaut (a person), her suit and the shuttle model (a vehicle) leave only a strip of flag.
PHOTOS: dict[str, tuple[tuple[float, float, float, float], ...]] = {
    "coffee.png": ((0, 0, 1, 1),),  # a cup of coffee: not a class (beverages are left out of food)
    "hubble_deep_field.jpg": ((0, 0, 1, 1),),
    "rocket.jpg": ((0, 0, 0.42, 1), (0.58, 0, 1, 1)),  # the pad's towers and sky, not the Falcon 9
    "chelsea.png": ((0, 0.62, 0.42, 1), (0.82, 0.3, 1, 1)),  # cheek fur and the blurred room, not the face
}
PHOTO_SHARE = 0.4  # the rest are procedural
PHOTO_CROP = (0.2, 0.45)  # a crop's side, as a share of the photo's shorter side
KINDS = ("photo", "noise", "gradient", "stripes")


@cache
def photo(name: str) -> np.ndarray:
    with Image.open(ASSETS / "samples" / name) as image:
        return np.asarray(image.convert("RGB"))


def _mix(rng: np.random.Generator, weight: np.ndarray) -> np.ndarray:
    """Two random colours mixed by a weight field in [0, 1]: H×W×3 float32."""
    a, b = rng.integers(0, 256, size=(2, 3)).astype(np.float32)
    return np.asarray(weight[..., None] * a + (1 - weight[..., None]) * b, dtype=np.float32)


def photo_crop(rng: np.random.Generator, size: int) -> np.ndarray:
    name = sorted(PHOTOS)[rng.integers(len(PHOTOS))]
    picture = photo(name)
    h, w = picture.shape[:2]
    regions = PHOTOS[name]
    fx0, fy0, fx1, fy1 = regions[rng.integers(len(regions))]
    left, top, right, bottom = int(fx0 * w), int(fy0 * h), int(fx1 * w), int(fy1 * h)
    side = min(int(min(h, w) * rng.uniform(*PHOTO_CROP)), right - left, bottom - top)
    y, x = rng.integers(top, bottom - side + 1), rng.integers(left, right - side + 1)
    crop = Image.fromarray(picture[y:y + side, x:x + side]).resize((size, size), Image.Resampling.BILINEAR)
    out = np.asarray(crop)
    return out[:, ::-1] if rng.random() < 0.5 else out


def noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth value noise: a coarse random grid enlarged bicubically, mapping two random colours."""
    cells = int(rng.integers(2, 12))
    grid = rng.random((cells, cells)).astype(np.float32)
    field = np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)).clip(0, 1)
    return _mix(rng, field)


def gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    return _mix(rng, ramp)


def stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(6, 60)  # px: from fine hatching to broad bands
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    wave = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(angle) * xx + np.sin(angle) * yy) / period)
    if rng.random() < 0.5:
        wave = (wave > 0.5).astype(np.float32)  # hard-edged bands as well as soft ones
    return _mix(rng, wave)


def background(rng: np.random.Generator, size: int, kind: str | None = None) -> np.ndarray:
    """A size×size RGB uint8 background: a photo crop (PHOTO_SHARE of the time) or a procedural
    texture, with a little pixel noise so flat areas are not perfectly flat."""
    if kind is None:
        kind = "photo" if rng.random() < PHOTO_SHARE else KINDS[1 + rng.integers(len(KINDS) - 1)]
    if kind == "photo":
        return photo_crop(rng, size)
    base = {"noise": noise, "gradient": gradient, "stripes": stripes}[kind](rng, size)
    grain = rng.normal(0, rng.uniform(0, 8), size=base.shape).astype(np.float32)
    return np.asarray((base + grain).clip(0, 255), dtype=np.uint8)
