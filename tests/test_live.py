"""The Live tab's frame function: one map per output level of the neck, of the level's size, the
same maps for the same frame and other maps for another; the drawing shows every level with words
in both languages."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch
from fontTools.ttLib import TTFont
from gradio import routes

from necklab.i18n import strings
from necklab.lab.analysis import backbone_on, neck_on
from necklab.lab.compare import tab_config
from necklab.lab.live import frame_maps, frame_tensor, live_size
from necklab.models.backbone import normalise
from necklab.models.registry import NECKS
from necklab.viz import CJK_FONT
from necklab.viz.live import live_image
from necklab.viz.sheet import number
from necklab.widgets.session import Session
from tests.conftest import SAMPLES


def camera_frame(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """A webcam-sized frame: a sample picture's pixels (real structure), shifted per seed."""
    from PIL import Image

    picture = np.asarray(Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((width, height)))
    return np.roll(picture, shift=37 * seed, axis=1)


def test_live_size_keeps_the_aspect_with_the_longer_side_320():
    assert live_size(640, 480) == (320, 240)
    assert live_size(480, 640) == (240, 320)
    assert live_size(160, 120) == (320, 240)  # a small camera is enlarged to the same size
    assert live_size(4000, 10) == (320, 32)  # never thinner than 32 px
    assert tuple(frame_tensor(camera_frame(0)).shape) == (1, 3, 240, 320)


@pytest.mark.parametrize("name", ["fpn", "bifpn", "aspp"])
def test_one_map_per_output_level_of_the_levels_size(name):
    maps = frame_maps(camera_frame(0), name)
    neck = neck_on(name, tab_config(NECKS[name]), "cpu")
    assert [m.node for m in maps.levels] == list(neck.topology.outputs)
    x = normalise(frame_tensor(camera_frame(0)))
    with torch.inference_mode():  # the backbone and the neck, run here on the same frame
        features = dict(zip([i.name for i in backbone_on("cpu").feature_info], backbone_on("cpu").forward_features(x)))
        outputs = neck([features[n] for n in neck.input_names])
    assert maps.size == (320, 240)
    for level, out in zip(maps.levels, outputs, strict=True):
        assert level.shape == tuple(out.shape[1:])
        assert level.values.dtype == np.float32
        np.testing.assert_allclose(level.values, out[0].mean(dim=0).numpy(), rtol=1e-3, atol=1e-4)
        assert level.level == neck.topology.node(level.node).level


def test_a_vector_output_is_shown_through_the_maps_it_is_made_of():
    maps = frame_maps(camera_frame(0), "spp", "top")
    levels = NECKS["spp"].reference_config.get("levels", (1, 2, 4))
    assert [m.node for m in maps.levels] == [f"bins{n}" for n in levels]
    assert [m.values.shape for m in maps.levels] == [(n, n) for n in levels]
    assert all(m.channel is not None and 0 <= m.channel < m.channels for m in maps.levels)


@pytest.mark.parametrize("kind", ["mean", "top"])
def test_the_maps_are_a_pure_function_of_the_frame(kind):
    first, again, other = (frame_maps(camera_frame(seed), "fpn", kind) for seed in (0, 0, 1))
    for a, b, c in zip(first.levels, again.levels, other.levels, strict=True):
        assert np.array_equal(a.values, b.values) and a.channel == b.channel
        assert a.values.shape == c.values.shape and not np.allclose(a.values, c.values)


def test_unknown_neck_kind_and_frame_are_refused():
    with pytest.raises(KeyError):
        frame_maps(camera_frame(0), "no-such-neck")
    with pytest.raises(ValueError):
        frame_maps(camera_frame(0), "fpn", "median")
    with pytest.raises(ValueError):
        frame_maps(np.zeros((4, 4, 7), np.uint8), "fpn")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_drawing_has_a_tile_per_level(lang):
    maps = frame_maps(camera_frame(0), "fpn")
    image = live_image(maps, lang)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert 900 <= image.shape[1] <= 1100 and image.shape[0] < image.shape[1]
    # every tile shows colour: count the columns of coloured pixels in the tile band
    band = image[image.shape[0] // 2]
    coloured = np.abs(band.astype(int) - 255).sum(axis=1) > 60
    assert coloured.sum() > 0.7 * image.shape[1]
    title_band = image[12:30]  # the level names are inked above the tiles
    assert (title_band.max(axis=2) < 100).sum() > 200
    flat = live_image(frame_maps(np.zeros((240, 320, 3), np.uint8), "spp"), lang)  # flat maps draw too
    assert flat.shape[2] == 3


def test_every_character_the_drawing_uses_has_a_glyph():
    glyphs = TTFont(CJK_FONT).getBestCmap()
    words = "".join(v for lang in ("en", "zh") for k, v in strings(lang).items() if k.startswith("live."))
    drawn = words + "".join(number(v) for v in (-0.000123, 12345.6, 1e-9)) + "×()"
    missing = sorted({c for c in drawn if not c.isspace() and ord(c) not in glyphs})
    assert not missing, f"run scripts/make_cjk_font.py: no glyph for {missing}"


def test_the_handler_draws_a_frame_and_words_the_timing_in_the_sessions_language():
    from necklab.ui.live_tab import live_frame

    shown = live_frame(Session(lang="zh"), camera_frame(0), "fpn", "mean")
    assert shown is not None and shown.maps["url"].startswith("data:image/jpeg;base64,")
    assert "320×240" in shown.status and "主干网络" in shown.status
    assert live_frame(Session(), None, "fpn", "mean") is None  # no frame yet: nothing changes


def test_gradio_keeps_only_the_newest_frame():
    """What the Live tab relies on to drop stale frames: a frame posted to a running stream replaces
    the event's data (Gradio 6.31's routes.py); fails if Gradio changes it."""
    source = inspect.getsource(routes)
    assert '@router.post("/stream/{event_id}")' in source and "event.data = body" in source
