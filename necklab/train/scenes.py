"""Synthetic multi-scale scenes for training and evaluating the necks: 1–MAX_OBJECTS cut-outs
(`necklab.train.cutouts`) pasted on a background (`necklab.train.backgrounds`), with exact labels.

A scene is a pure function of its seed (and the installed cut-outs): same seed, same pixels, same
boxes. Recipe of one scene:

- background: a photo crop or a procedural texture, SIZE × SIZE;
- objects: uniformly 1…MAX_OBJECTS; each of a uniformly drawn class, a uniformly drawn cut-out of
  that class (of the scene's split: val scenes use held-out cut-outs), its longer side log-uniform
  in [MIN_OBJECT px, MAX_OBJECT_SHARE × SIZE], mirrored half the time, placed anywhere with at most
  OUTSIDE of its width/height beyond the picture's edge;
- painting order: larger first, so small objects are rarely buried (occlusion still happens);
- labels after painting: a pixel belongs to the top-most object whose alpha there is ≥ ALPHA_ON;
  an object's box is the tight box of its visible pixels (x0, y0, x1, y1 in pixel edges, x1/y1
  exclusive), clipped to the picture; an object with less than MIN_VISIBLE of its pixels visible
  (occluded or outside) is dropped: its box goes to `ignore` and its pixels to IGNORE in the mask.

Sizes in COCO terms (AP_S/M/L): the box area in the scene's own pixels, with COCO's thresholds
unchanged (small < 32², medium < 96², large otherwise): at 320 px, a small object spans at most 4
cells of the stride-8 level, where the necks' top-down paths matter most.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from necklab.train.backgrounds import background as make_background
from necklab.train.cutouts import CLASSES, Library, library, require_source

RECIPE = "scenes-v1"  # part of every scene key: change it when a change here changes the scenes
SIZE = 320
MAX_OBJECTS = 6
MIN_OBJECT = 12  # px, the longer side of the smallest object
MAX_OBJECT_SHARE = 0.6  # of SIZE, the longer side of the largest
OUTSIDE = 0.25
ALPHA_ON = 128
MIN_VISIBLE = 0.3
IGNORE = 255
SMALL, MEDIUM = 32 ** 2, 96 ** 2
SPLITS = ("train", "val")


@dataclass(frozen=True)
class Placement:
    """One object as pasted: its scaled, mirrored RGBA and its top-left corner (may be negative)."""

    rgba: np.ndarray
    label: int
    x: int
    y: int


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # H×W×3 uint8
    boxes: np.ndarray  # N×4 float32, x0 y0 x1 y1 in pixel edges, of the visible part
    labels: np.ndarray  # N int64, indices into CLASSES
    mask: np.ndarray  # H×W uint8: 0 background, 1 + label on an object's pixels, IGNORE on dropped ones
    instances: np.ndarray  # H×W int16: the index into boxes of each pixel's object, −1 elsewhere
    ignore: np.ndarray  # M×4 float32: boxes of dropped objects' visible fragments
    seed: int

    def areas(self) -> np.ndarray:
        return np.asarray((self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1]))


def size_bucket(area: float) -> str:
    """COCO's size name for a box area in px²: 'small', 'medium' or 'large'."""
    return "small" if area < SMALL else "medium" if area < MEDIUM else "large"


def composite(background: np.ndarray, placements: Sequence[Placement]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint `placements` in order over `background` (alpha blending). Returns the image, the owner
    map (each pixel's top-most placement with alpha ≥ ALPHA_ON, −1 for none) and each placement's
    count of such pixels before clipping and occlusion (what 'visible' is a share of)."""
    height, width = background.shape[:2]
    image = background.astype(np.float32)
    owner = np.full((height, width), -1, dtype=np.int16)
    full = np.zeros(len(placements), dtype=np.int64)
    for i, p in enumerate(placements):
        h, w = p.rgba.shape[:2]
        full[i] = int((p.rgba[..., 3] >= ALPHA_ON).sum())
        x0, y0, x1, y1 = max(p.x, 0), max(p.y, 0), min(p.x + w, width), min(p.y + h, height)
        if x0 >= x1 or y0 >= y1:
            continue
        patch = p.rgba[y0 - p.y:y1 - p.y, x0 - p.x:x1 - p.x]
        alpha = patch[..., 3:].astype(np.float32) / 255
        window = image[y0:y1, x0:x1]
        window[:] = window * (1 - alpha) + patch[..., :3] * alpha
        owner[y0:y1, x0:x1][patch[..., 3] >= ALPHA_ON] = i
    return np.asarray(image.round(), dtype=np.uint8), owner, full


def tight_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) in pixel edges of a non-empty boolean map's True pixels."""
    rows, cols = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def label_scene(image: np.ndarray, owner: np.ndarray, full: np.ndarray, labels: Sequence[int],
                seed: int = 0) -> Scene:
    """The scene's labels from `composite`'s owner map: occlusion-aware boxes, the class mask, the
    instance map; objects under MIN_VISIBLE visible are dropped to `ignore`."""
    boxes: list[tuple[int, int, int, int]] = []
    ignore: list[tuple[int, int, int, int]] = []
    kept_labels: list[int] = []
    mask = np.zeros(owner.shape, dtype=np.uint8)
    instances = np.full(owner.shape, -1, dtype=np.int16)
    for i, label in enumerate(labels):
        pixels = owner == i
        visible = int(pixels.sum())
        if visible == 0:
            continue
        if visible < MIN_VISIBLE * full[i]:
            ignore.append(tight_box(pixels))
            mask[pixels] = IGNORE
            continue
        instances[pixels] = len(boxes)
        mask[pixels] = 1 + label
        boxes.append(tight_box(pixels))
        kept_labels.append(label)
    return Scene(image=image, boxes=np.array(boxes, dtype=np.float32).reshape(-1, 4),
                 labels=np.array(kept_labels, dtype=np.int64), mask=mask, instances=instances,
                 ignore=np.array(ignore, dtype=np.float32).reshape(-1, 4), seed=seed)


def scaled(rgba: np.ndarray, longer: float, mirror: bool) -> np.ndarray:
    """The cut-out with its longer side `longer` px (Pillow resamples RGBA premultiplied)."""
    h, w = rgba.shape[:2]
    factor = longer / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    out = np.asarray(Image.fromarray(rgba).resize(size, Image.Resampling.LANCZOS))
    return out[:, ::-1] if mirror else out


def make_scene(seed: int, size: int = SIZE, split: str = "train", cutouts: Library | None = None,
               background: np.ndarray | None = None, n_objects: int | None = None) -> Scene:
    """The scene of `seed` (see the module's notes). `cutouts` defaults to the installed library;
    `background` (size×size×3 uint8) and `n_objects` override the drawn ones (tests, figures)."""
    lib = library() if cutouts is None else cutouts
    rng = np.random.default_rng(seed)
    pools = [lib.of(label, split) for label in range(len(CLASSES))]
    classes = [label for label, pool in enumerate(pools) if pool]
    bg = make_background(rng, size) if background is None else background
    count = int(rng.integers(1, MAX_OBJECTS + 1)) if n_objects is None else n_objects
    placements = []
    for _ in range(count):
        label = classes[int(rng.integers(len(classes)))]
        cutout = pools[label][int(rng.integers(len(pools[label])))]
        longer = float(np.exp(rng.uniform(np.log(MIN_OBJECT), np.log(MAX_OBJECT_SHARE * size))))
        rgba = scaled(cutout.rgba, longer, mirror=bool(rng.random() < 0.5))
        h, w = rgba.shape[:2]
        x = int(rng.integers(-int(OUTSIDE * w), size - int((1 - OUTSIDE) * w) + 1))
        y = int(rng.integers(-int(OUTSIDE * h), size - int((1 - OUTSIDE) * h) + 1))
        placements.append(Placement(rgba, label, x, y))
    placements.sort(key=lambda p: -p.rgba.shape[0] * p.rgba.shape[1])  # larger first; stable
    image, owner, full = composite(bg, placements)
    return label_scene(image, owner, full, [p.label for p in placements], seed=seed)


@dataclass(frozen=True)
class SceneSet:
    """`count` scenes of one split, generated on demand: scene i is always the same picture and
    labels. `key(i)` names it for caches (e.g. the trainer's per-scene backbone features): it
    changes with the recipe, the split, the set's seed, the size and i."""

    split: str
    count: int
    seed: int = 0
    size: int = SIZE
    cutouts: Library | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {self.split!r}")
        if self.cutouts is None:
            require_source()  # refuse now, naming the package, rather than at the first scene

    def __len__(self) -> int:
        return self.count

    def scene_seed(self, i: int) -> int:
        # train and val scenes of one seed never share a seed
        return int(np.random.SeedSequence([self.seed, SPLITS.index(self.split), i]).generate_state(1)[0])

    @property
    def name(self) -> str:
        """Names the whole set (e.g. its cached features): recipe, split, seed, size and count."""
        source = "" if self.cutouts is None else f"-{self.cutouts.root.name or 'custom'}"  # another library's scenes
        return f"{RECIPE}{source}-{self.split}-{self.seed}-{self.size}-n{self.count}"

    def key(self, i: int) -> str:
        return f"{RECIPE}-{self.split}-{self.seed}-{self.size}-{i}"

    def __getitem__(self, i: int) -> Scene:
        if not 0 <= i < self.count:
            raise IndexError(i)
        return make_scene(self.scene_seed(i), self.size, self.split, self.cutouts)

    def __iter__(self) -> Iterator[Scene]:
        return (self[i] for i in range(self.count))
