"""The training scenes: reproducible from a seed, boxes tight around what is visible (occlusion and
the picture's edge included), masks that agree with the boxes, object sizes across COCO's small,
medium and large, every class present; the cut-out recipe's filters; and the refusal, naming the
package, when the cut-outs are not installed.

Most tests run on a small library of drawn shapes (no package needed); those marked `clipart` use
the real cut-outs and skip, saying why, when Debian's openclipart-png is not installed."""
from __future__ import annotations

import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from necklab.i18n import t
from necklab.train import cutouts
from necklab.train.backgrounds import PHOTOS
from necklab.train.cutouts import CLASSES, PACKAGE, Cutout, DataSourceMissing, Library, judge, split_of
from necklab.train.scenes import (
    ALPHA_ON,
    IGNORE,
    MAX_OBJECT_SHARE,
    MIN_OBJECT,
    SIZE,
    Placement,
    Scene,
    SceneSet,
    composite,
    label_scene,
    make_scene,
    size_bucket,
    tight_box,
)

ROOT = Path(__file__).resolve().parent.parent


def installed() -> bool:
    try:
        cutouts.require_source()
    except DataSourceMissing:
        return False
    return True


clipart = pytest.mark.skipif(
    not installed(),
    reason=f"Debian package {PACKAGE} not installed (apt-get install {PACKAGE}; scripts/setup.sh --dev does it)")


def shape(rng: np.random.Generator, kind: int) -> np.ndarray:
    """A drawn cut-out with soft edges (drawn at 4× and shrunk): an ellipse, a triangle or a ring."""
    w, h = (int(v) for v in rng.integers(60, 160, size=2))
    big = Image.new("RGBA", (4 * w, 4 * h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(big)
    colour = tuple(int(c) for c in rng.integers(0, 256, size=3)) + (255,)
    if kind == 0:
        draw.ellipse((0, 0, 4 * w - 1, 4 * h - 1), fill=colour)
    elif kind == 1:
        draw.polygon([(0, 4 * h - 1), (2 * w, 0), (4 * w - 1, 4 * h - 1)], fill=colour)
    else:
        draw.ellipse((0, 0, 4 * w - 1, 4 * h - 1), outline=colour, width=int(min(w, h)))
    return np.asarray(big.resize((w, h), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def shapes() -> Library:
    return drawn_library()


def drawn_library() -> Library:
    """Twenty drawn cut-outs per class, in both splits."""
    rng = np.random.default_rng(0)
    items = tuple(Cutout(shape(rng, k % 3), label, f"shapes/{label}_{k}.png")
                  for label in range(len(CLASSES)) for k in range(20))
    library = Library(Path("shapes"), items, {})
    assert all(library.of(label, split) for label in range(len(CLASSES)) for split in ("train", "val"))
    return library


@pytest.fixture(scope="module")
def real() -> Library:
    return cutouts.library()


def square(colour: tuple[int, int, int], w: int, h: int) -> np.ndarray:
    rgba = np.zeros((h, w, 4), dtype=np.uint8)
    rgba[...] = (*colour, 255)
    return rgba


# -- reproducible ---------------------------------------------------------------------------------

def same(a: Scene, b: Scene) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f))
               for f in ("image", "boxes", "labels", "mask", "instances", "ignore"))


def test_same_seed_same_scene(shapes):
    assert same(make_scene(7, cutouts=shapes), make_scene(7, cutouts=shapes))
    assert not np.array_equal(make_scene(7, cutouts=shapes).image, make_scene(8, cutouts=shapes).image)


def test_scene_sets_are_reproducible_and_splits_apart(shapes):
    train, again = SceneSet("train", 5, seed=3, cutouts=shapes), SceneSet("train", 5, seed=3, cutouts=shapes)
    assert all(same(a, b) for a, b in zip(train, again, strict=True))
    val = SceneSet("val", 5, seed=3, cutouts=shapes)
    assert {train.scene_seed(i) for i in range(5)}.isdisjoint(val.scene_seed(i) for i in range(5))
    assert train.key(4) == "scenes-v1-train-3-320-4" and len({train.key(i) for i in range(5)} | {val.key(0)}) == 6
    with pytest.raises(IndexError):
        train[5]


@clipart
@pytest.mark.slow
def test_real_scenes_are_reproducible(real):
    a, b = SceneSet("val", 3, seed=1), SceneSet("val", 3, seed=1)
    assert all(same(x, y) for x, y in zip(a, b, strict=True))


# -- boxes tight around the visible alpha -------------------------------------------------------

def check_tight(seed: int, library: Library) -> bool:
    """One object pasted on black and on white: the two pictures give its alpha back exactly
    (α = 1 − (white − black) / 255, ±1/255 from rounding), independently of how the scene labels it.
    Its box must be the box of α ≥ ALPHA_ON, allowing that rounding. False when it was dropped."""
    black = make_scene(seed, cutouts=library, background=np.zeros((SIZE, SIZE, 3), np.uint8), n_objects=1)
    white = make_scene(seed, cutouts=library, background=np.full((SIZE, SIZE, 3), 255, np.uint8), n_objects=1)
    assert np.array_equal(black.boxes, white.boxes)
    if len(black.boxes) == 0:
        return False
    alpha = 255 - (white.image.astype(int) - black.image.astype(int)).max(axis=2)
    inner, outer = tight_box(alpha >= ALPHA_ON + 1), tight_box(alpha >= ALPHA_ON - 1)
    x0, y0, x1, y1 = black.boxes[0]
    assert outer[0] <= x0 <= inner[0] and outer[1] <= y0 <= inner[1]
    assert inner[2] <= x1 <= outer[2] and inner[3] <= y1 <= outer[3]
    return True


def test_box_is_tight_around_the_pasted_alpha(shapes):
    assert sum(check_tight(seed, shapes) for seed in range(20)) >= 15


@clipart
@pytest.mark.slow
def test_box_is_tight_around_real_cutouts(real):
    assert sum(check_tight(seed, real) for seed in range(20)) >= 15


def test_occlusion_shrinks_the_box_and_buries_objects():
    bg = np.zeros((100, 200, 3), np.uint8)
    big, cover = square((255, 0, 0), 100, 100), square((0, 0, 255), 60, 100)
    image, owner, full = composite(bg, [Placement(big, 0, 0, 0), Placement(cover, 1, 0, 0)])
    scene = label_scene(image, owner, full, [0, 1])
    assert scene.boxes.tolist() == [[60, 0, 100, 100], [0, 0, 60, 100]]  # the red square shows 40 %
    assert (image[:, :60] == (0, 0, 255)).all() and (image[:, 60:100] == (255, 0, 0)).all()
    buried = square((0, 255, 0), 80, 100)  # leaves the red square 20 % visible: dropped
    image, owner, full = composite(bg, [Placement(big, 0, 0, 0), Placement(buried, 1, 0, 0)])
    scene = label_scene(image, owner, full, [0, 1])
    assert scene.boxes.tolist() == [[0, 0, 80, 100]] and scene.labels.tolist() == [1]
    assert scene.ignore.tolist() == [[80, 0, 100, 100]] and (scene.mask[:, 80:100] == IGNORE).all()


def test_objects_at_the_edge_are_clipped_or_dropped():
    bg = np.zeros((100, 100, 3), np.uint8)
    half, sliver = square((9, 9, 9), 40, 20), square((9, 9, 9), 40, 20)
    image, owner, full = composite(bg, [Placement(half, 2, -20, 10), Placement(sliver, 3, 70, -16)])
    scene = label_scene(image, owner, full, [2, 3])
    assert scene.boxes.tolist() == [[0, 10, 20, 30]]  # half outside: clipped; the sliver shows 20 %: dropped
    assert scene.ignore.tolist() == [[70, 0, 100, 4]]


# -- masks agree with boxes ------------------------------------------------------------------------

def check_masks(scene: Scene) -> None:
    objects = scene.instances >= 0
    assert np.array_equal(objects, (scene.mask > 0) & (scene.mask != IGNORE))
    for k, (box, label) in enumerate(zip(scene.boxes, scene.labels, strict=True)):
        pixels = scene.instances == k
        assert tight_box(pixels) == tuple(box) and (scene.mask[pixels] == 1 + label).all()
    for box in scene.ignore:  # a dropped fragment's box holds IGNORE pixels
        x0, y0, x1, y1 = (int(v) for v in box)
        assert (scene.mask[y0:y1, x0:x1] == IGNORE).any()


def test_masks_agree_with_boxes(shapes):
    for scene in SceneSet("train", 20, cutouts=shapes):
        check_masks(scene)


@clipart
@pytest.mark.slow
def test_real_masks_agree_with_boxes(real):
    for scene in SceneSet("train", 10, seed=2):
        check_masks(scene)


# -- sizes and classes -----------------------------------------------------------------------------

def size_mix(scenes: SceneSet) -> Counter[str]:
    return Counter(size_bucket(float(a)) for scene in scenes for a in scene.areas())


def test_sizes_cover_small_medium_and_large(shapes):
    scenes = SceneSet("train", 120, cutouts=shapes)
    mix = size_mix(scenes)
    total = sum(mix.values())
    assert total > 250 and all(mix[b] > 0.08 * total for b in ("small", "medium", "large")), mix
    sides = [max(b[2] - b[0], b[3] - b[1]) for scene in scenes for b in scene.boxes]
    assert min(sides) < 1.5 * MIN_OBJECT and max(sides) > 0.8 * MAX_OBJECT_SHARE * SIZE


@clipart
@pytest.mark.slow
def test_real_scenes_cover_sizes_and_every_class(real):
    for split in ("train", "val"):
        scenes = SceneSet(split, 40)
        assert {int(label) for scene in scenes for label in scene.labels} == set(range(len(CLASSES)))
        mix = size_mix(scenes)
        assert all(mix[b] >= 5 for b in ("small", "medium", "large")), (split, mix)


def test_size_buckets_follow_coco():
    assert [size_bucket(a) for a in (31 * 31, 32 * 32, 95 * 95, 96 * 96)] == ["small", "medium", "medium", "large"]


# -- the cut-out recipe ----------------------------------------------------------------------------

def drawn(kind: str) -> np.ndarray:
    rgba = np.zeros((200, 200, 4), np.uint8)
    if kind == "good":
        rgba[40:160, 50:150] = 255
        rgba[40:80, 50:90, 3] = 0  # a notch: not a rectangle
    elif kind == "opaque":
        rgba[...] = 255
    elif kind == "rectangle":
        rgba[40:160, 50:150] = 255
    elif kind == "outline":
        rgba[40:160, 50:150] = 255
        rgba[42:158, 52:148] = 0
    elif kind == "tiny":
        rgba[10:40, 10:30] = 255
    elif kind == "stick":
        rgba[10:190, 95:105] = 255
    return rgba


@pytest.mark.parametrize("kind, verdict", [
    ("good", None), ("opaque", "no_transparency"), ("rectangle", "rectangle"), ("outline", "line_art"),
    ("tiny", "too_small"), ("stick", "too_small")])
def test_filters(kind, verdict):
    assert judge(drawn(kind)) == verdict


def test_recipe_on_a_small_copy(tmp_path):
    """A copy of the package's layout with a few files: kept, a duplicate, a file filed under two
    classes, an unusable one and a name that is not the class."""
    for spec in CLASSES:
        for folder in spec.folders:
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    save = lambda rgba, path: Image.fromarray(rgba).save(tmp_path / path)  # noqa: E731
    good = drawn("good")
    save(good, "animals/birds/cat.png")
    save(good, "animals/mammals/cat_again.png")  # same bytes, same class: a duplicate
    other = good.copy()
    other[100:110, 100:110, :3] = 7
    save(other, "food/fruit/lobster.png")
    save(other, "animals/fish/lobster.png")  # same bytes in two classes: ambiguous
    save(drawn("outline"), "people/outline.png")
    save(good, "transportation/no_entry.png")  # a road sign's name: excluded by pattern
    save(np.rot90(good).copy(), "transportation/vehicles/car.png")
    built = cutouts.build(tmp_path)
    assert [c.source for c in built.cutouts] == ["animals/birds/cat.png", "transportation/vehicles/car.png"]
    assert built.dropped == {"duplicate": 1, "ambiguous": 2, "line_art": 1}
    assert built.cutouts[0].rgba.shape[:2] == (120, 100)  # cropped to the opaque box


def test_val_holds_out_about_a_fifth_of_the_names():
    names = [f"drawing_{i}.png" for i in range(2000)]
    share = sum(split_of(f"x/{n}") == "val" for n in names) / len(names)
    assert 0.17 < share < 0.23 and split_of("a/same.png") == split_of("b/same.png")


@clipart
@pytest.mark.slow
def test_every_class_has_cutouts_in_both_splits(real):
    for label, spec in enumerate(CLASSES):
        assert len(real.of(label, "train")) >= 40 and len(real.of(label, "val")) >= 8, spec.name
    assert all(max(c.rgba.shape[:2]) <= cutouts.MAX_SIDE for c in real.cutouts)


# -- the source is required, and named ------------------------------------------------------------

def test_missing_source_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv(cutouts.ROOT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataSourceMissing) as caught:
        cutouts.require_source()
    assert PACKAGE in str(caught.value) and "nowhere" in str(caught.value)
    assert PACKAGE in caught.value.text("zh") and "训练数据" in caught.value.text("zh")
    assert caught.value.text("zh") == t("train.data_missing", "zh", path=tmp_path / "nowhere", package=PACKAGE)
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.path, again.package, str(again)) == (caught.value.path, PACKAGE, str(caught.value))
    with pytest.raises(DataSourceMissing):
        SceneSet("train", 3)  # refuses at once, not at the first scene
    (tmp_path / "nowhere" / "people").mkdir(parents=True)  # some folders are not enough
    with pytest.raises(DataSourceMissing):
        cutouts.build(tmp_path / "nowhere")


def test_the_data_has_credits():
    text = (ROOT / "assets" / "data" / "LICENSES.md").read_text(encoding="utf-8")
    assert PACKAGE in text and "Public Domain" in text
    for name in PHOTOS:  # every photo the backgrounds crop
        assert name in text
