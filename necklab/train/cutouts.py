"""The objects of the training scenes: public-domain cut-outs with alpha from Debian's `openclipart-png`
package (installed under /usr/share/openclipart/png), sorted into a few classes by explicit folder
lists and filtered by fixed, documented rules, so every machine that installs the package gets the
same library.

The recipe, applied in sorted path order:

1. Folders: each class lists its folders (not their sub-folders unless listed), and names to leave
   out by pattern (road signs in the vehicle folders, padlocks among the animals…: not the class).
2. Decoding cost: a canvas over MAX_CANVAS pixels is skipped from its header, undecoded (the few
   that big are 10 000 × 16 000 icon sheets, flags and a stop sign).
3. Transparency: at least MIN_CLEAR of the canvas is transparent (alpha < 128); otherwise it is a
   photo or a filled rectangle, with no shape to learn.
4. Size: the opaque part's box (alpha ≥ 128) is at least MIN_LONG px on its longer side and MIN_SHORT
   on its shorter (scenes enlarge objects to ~190 px; smaller sources blur), aspect at most MAX_ASPECT.
5. Solidity: the opaque share of that box lies in [MIN_SOLID, MAX_SOLID]: below is line art or thin
   strokes that vanish when shrunk; above is a rectangle ("Linked Image Not Found" placeholders,
   framed pictures).
6. Duplicates: byte-identical files are one cut-out (the first in folder-list order kept); a file filed under two
   classes (a lobster in animals/ and food/) is ambiguous and dropped from both.

Each kept cut-out is cropped to its opaque box and shrunk to at most MAX_SIDE px on its longer side
(a scene never draws an object larger than 60 % of 320 px, so this keeps quality and bounds memory).
Cut-outs are split between train and val by a hash of their file name (VAL_SHARE held out), so the
validation scenes show objects the trainer never saw.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from necklab.i18n import t

PACKAGE = "openclipart-png"  # the Debian package that provides the cut-outs
ROOT = Path("/usr/share/openclipart/png")  # where it installs them
ROOT_ENV = "NECKLAB_CLIPART"  # another place to read them from (a copy, or a test's empty folder)

MAX_CANVAS = 16_000_000
MIN_CLEAR = 0.10
MIN_LONG, MIN_SHORT = 64, 16
MAX_ASPECT = 4.0
MIN_SOLID, MAX_SOLID = 0.15, 0.95
MAX_SIDE = 200
VAL_SHARE = 0.2


@dataclass(frozen=True)
class ClassSpec:
    name: str  # the class's key (worded in the language files when a view first shows it)
    folders: tuple[str, ...]  # relative to the package's root, each read without its sub-folders
    exclude: tuple[str, ...] = ()  # file-name patterns (fnmatch) that are not this class


ANIMALS = ("animals", "animals/amphibian", "animals/birds", "animals/birds/penguin", "animals/bugs",
           "animals/fish", "animals/mammals", "animals/mammals/bears", "animals/mammals/big_cats",
           "animals/mammals/dogs", "animals/mammals/horses", "animals/mammals/housecats", "animals/dinosaurs")
FOODS = ("food", "food/fruit", "food/vegetables", "food/breads_and_carbs", "food/desserts",
         "food/meats_and_eggs", "food/dairy")  # not food/beverages: bottles and glasses, not dishes
ROAD_SIGNS = ("crossroads*", "curve_ahead*", "cycle_lane*", "cycle_route*", "cycles*", "bus_lane*",
              "bus_opposite*", "buses_and_bikes*", "cattle*", "crosswind*", "drawbridge*", "end_daul*",
              "grounded*", "horse*", "kaboom*", "lorry_length*", "no_cycles*", "no_entry*", "old_folks*",
              "pass_either*", "roundabout*", "tram.png", "trams_only*", "tunnel*", "turn_ahead*",
              "two_way*", "zigzag*", "airplane.png", "bambi*", "evel_knievel*", "motorway_on*",
              "parking_*", "quay_sign*", "street_sign*", "bus_symbol*")
CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec("animal", ANIMALS, (
        "cymru_flag*", "lucchetto_*", "tante_orme*", "three_eyes*", "kallisti-grenade*", "mascot_*",
        "*dead_frogs*")),
    ClassSpec("food", FOODS, (
        "chef_*", "meatgrinder*", "mix_cucina_frullatore*", "libro_di_ricette*", "kallisti-grenade*",
        "slate-apple*", "straw_tote*", "tree_whit_fruits*", "come_si_dispongono*", "picnic*")),
    # Land, air and water vehicles; the vehicle folders also hold road signs, lighthouses and anchors.
    ClassSpec("vehicle", ("transportation", "transportation/vehicles", "transportation/vehicles/hummers"),
              ROAD_SIGNS + ("ampel*", "anchor*", "lighthouse*", "grain_elevator*", "little_tan_suitcase*",
                            "beach_trip*", "car_ride*", "road_runner*")),
    # People: whole figures, busts and faces; not body parts, icons or scenes.
    ClassSpec("person", ("people",), (
        "baby_bottle*", "blue_eye*", "eyes_*", "woman_eye*", "fingerprint*", "feet_in_sandals*",
        "*hand_print*", "reminder-hand*", "safety_pin*", "samoa_tatoo*", "skull*", "van_gogh*",
        "wedding_sign*", "chat_icon*", "gender_*", "icons_lumen*", "stylized_yoga_person_ger_0[1-5]*",
        "inservice_presentation*", "fire_engine*", "car_ride*", "beach_trip*", "sailing_kids*",
        "handshake*", "people_juliane_krug_0?[bc].png")),  # …_b/_c: colour variants of the …_a figures
)


class DataSourceMissing(RuntimeError):
    """The training data's source is not installed: which package provides it and where it was
    looked for, worded as `train.data_missing` in either language (`str()` is English)."""

    def __init__(self, path: Path, package: str = PACKAGE) -> None:
        self.path, self.package = path, package
        super().__init__(self.text("en"))

    def text(self, lang: str = "en") -> str:
        return t("train.data_missing", lang, path=str(self.path), package=self.package)

    def __reduce__(self) -> tuple[type[DataSourceMissing], tuple[Path, str]]:
        return type(self), (self.path, self.package)  # pickles (to a worker and back) by its fields


@dataclass(frozen=True)
class Cutout:
    rgba: np.ndarray  # h×w×4 uint8, cropped to its opaque box, longer side ≤ MAX_SIDE
    label: int  # index into CLASSES
    source: str  # path relative to the package's root, for credits and debugging


@dataclass(frozen=True)
class Library:
    """The filtered cut-outs of one root, per class, and why the others were dropped."""

    root: Path
    cutouts: tuple[Cutout, ...]
    dropped: dict[str, int]  # rule → how many candidate files it dropped

    def of(self, label: int, split: str | None = None) -> tuple[Cutout, ...]:
        """The cut-outs of class `label`, all or only those of `split` ('train' / 'val')."""
        return self._pools.get((label, split), ())

    @cached_property
    def _pools(self) -> dict[tuple[int, str | None], tuple[Cutout, ...]]:
        # every scene asks for its split's pools: sort the cut-outs once, not per scene
        pools: dict[tuple[int, str | None], list[Cutout]] = {}
        for c in self.cutouts:
            for key in ((c.label, None), (c.label, split_of(c.source))):
                pools.setdefault(key, []).append(c)
        return {key: tuple(found) for key, found in pools.items()}

    def counts(self) -> dict[str, int]:
        return {spec.name: len(self.of(i)) for i, spec in enumerate(CLASSES)}


def source_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or ROOT)


def require_source(root: Path | None = None) -> Path:
    """The cut-outs' root, or DataSourceMissing naming the package when it is not installed: the
    trainer calls this first, before any work."""
    root = source_root() if root is None else root
    if not all((root / folder).is_dir() for spec in CLASSES for folder in spec.folders):
        raise DataSourceMissing(root)
    return root


def split_of(source: str) -> str:
    """'val' for a fixed VAL_SHARE of the cut-outs (by a hash of the file name, so a copy of the same
    drawing in another folder lands on the same side), 'train' otherwise."""
    digest = hashlib.sha1(Path(source).name.encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") < VAL_SHARE * 2**32 else "train"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's header, without decoding it."""
    with path.open("rb") as f:
        head = f.read(24)
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def candidates(root: Path) -> list[tuple[int, Path]]:
    """(class, file) for every PNG in the classes' folders, in sorted order, before filtering."""
    found = []
    for label, spec in enumerate(CLASSES):
        for folder in spec.folders:
            for path in sorted((root / folder).glob("*.png")):
                if not any(fnmatch.fnmatch(path.name.lower(), pattern) for pattern in spec.exclude):
                    found.append((label, path))
    return found


def judge(rgba: np.ndarray) -> str | None:
    """Why a decoded cut-out is unusable (the rule's name), or None when it is fine."""
    opaque = rgba[..., 3] >= 128
    if 1 - opaque.mean() < MIN_CLEAR:
        return "no_transparency"
    rows, cols = np.flatnonzero(opaque.any(axis=1)), np.flatnonzero(opaque.any(axis=0))
    h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    if max(h, w) < MIN_LONG or min(h, w) < MIN_SHORT:
        return "too_small"
    if max(h, w) > MAX_ASPECT * min(h, w):
        return "too_elongated"
    solidity = opaque.sum() / (h * w)
    if solidity < MIN_SOLID:
        return "line_art"
    if solidity > MAX_SOLID:
        return "rectangle"
    return None


def crop(rgba: np.ndarray) -> np.ndarray:
    """The cut-out cropped to its opaque box and shrunk to at most MAX_SIDE px (Pillow resamples RGBA
    with premultiplied alpha, so edges do not take the transparent pixels' colour)."""
    opaque = rgba[..., 3] >= 128
    rows, cols = np.flatnonzero(opaque.any(axis=1)), np.flatnonzero(opaque.any(axis=0))
    image = Image.fromarray(rgba[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1])
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image)


def build(root: Path, progress: Callable[[int, int], Any] | None = None) -> Library:
    """Apply the recipe to the files under `root` (see the module's notes)."""
    files = candidates(require_source(root))
    digests = {path: hashlib.sha1(path.read_bytes()).hexdigest() for _, path in files}
    labels_of: dict[str, set[int]] = {}
    for label, path in files:
        labels_of.setdefault(digests[path], set()).add(label)
    kept: list[Cutout] = []
    seen: set[str] = set()
    dropped: dict[str, int] = {}
    for n, (label, path) in enumerate(files):
        if progress:
            progress(n, len(files))
        digest = digests[path]
        reason = ("ambiguous" if len(labels_of[digest]) > 1 else "duplicate" if digest in seen
                  else "huge_canvas" if np.prod(png_size(path)) > MAX_CANVAS else None)
        seen.add(digest)
        if reason is None:
            with Image.open(path) as image:
                rgba = np.asarray(image.convert("RGBA"))
            reason = judge(rgba)
        if reason:
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        kept.append(Cutout(crop(rgba), label, str(path.relative_to(root))))
    return Library(root, tuple(kept), dropped)


def library(root: Path | None = None) -> Library:
    """The library of `root` (default: the installed package, or NECKLAB_CLIPART's folder as it is
    now), built once per process and root."""
    return _built(source_root() if root is None else root)


@cache
def _built(root: Path) -> Library:
    return build(root)


def class_names() -> Sequence[str]:
    return tuple(spec.name for spec in CLASSES)
