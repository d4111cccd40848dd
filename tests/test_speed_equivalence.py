"""The speed-ups change no result: each fast path against the plain computation it replaces."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from necklab.lab.analysis import analyse, neck_on, run_backbone
from necklab.lab.compare import add_erfs, compare_zoo, tab_config
from necklab.lab.erf import effective_receptive_fields, mass_area
from necklab.models.registry import NECKS
from tests.conftest import SAMPLES
from tests.test_zoo import resized

PICTURE = resized("chelsea.png", 160, 128)


def real_flops(run) -> int:
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        run()
    return counter.get_total_flops()


@pytest.mark.parametrize("name", list(NECKS))
def test_flops_counted_on_the_meta_device_equal_a_real_forward(name):
    config = tab_config(NECKS[name])
    analysis = analyse(PICTURE, name, config)
    neck = neck_on(name, config, "cpu")
    inputs = [analysis.backbone.features[n] for n in neck.input_names]
    assert analysis.flops == real_flops(lambda: neck(inputs)), name
    assert analysis.flops > 0 or name == "spp"


def test_backbone_flops_counted_on_the_meta_device_equal_a_real_forward(backbone):
    result = run_backbone(PICTURE)
    x = result.features["image"]
    assert result.flops == real_flops(lambda: backbone.forward_features(x)) > 0


@pytest.fixture(scope="module")
def zoo():
    return {r.name: r for r in compare_zoo(PICTURE, repeats=1)}


def test_compare_rows_agree_with_each_necks_own_analysis(zoo):
    """One traced forward per neck fills the row: its numbers are the analysis's, and the ERF of
    the one-pass `add_erfs` equals the per-analysis effective receptive field."""
    for name, row in zoo.items():
        analysis = analyse(PICTURE, name, tab_config(NECKS[name]))
        assert (row.params, row.flops) == (analysis.params, analysis.flops), name
        assert row.latency_ms > 0
        if row.cell is None:
            assert name == "spp" and row.erf_px is None
            continue
        erf = effective_receptive_fields(analysis, [row.finest], row.cell)[row.finest]
        area, share = mass_area(erf, 0.95)
        assert row.erf_px == area and row.erf_percent == pytest.approx(100 * share), name


@pytest.mark.slow
def test_erfs_can_be_added_later_and_agree(zoo):
    rows = compare_zoo(PICTURE, repeats=1, erf=False)
    assert all(r.erf_px is None for r in rows)
    add_erfs(PICTURE, rows)
    assert [(r.erf_px, r.erf_percent) for r in rows] == [(zoo[r.name].erf_px, zoo[r.name].erf_percent) for r in rows]


def test_shared_backbone_pass_gives_the_same_gradients_as_separate_ones():
    analysis = analyse(PICTURE, "fpn", tab_config(NECKS["fpn"]))
    alone = effective_receptive_fields(analysis, ["P2", "P5"], (3, 2))
    from necklab.lab.erf import erf_maps

    other = neck_on("aspp", tab_config(NECKS["aspp"]), "cpu")
    neck = neck_on("fpn", tab_config(NECKS["fpn"]), "cpu")
    _, shared = erf_maps(PICTURE, "cpu", [(other, ["project"], (1, 1)), (neck, ["P2", "P5"], (3, 2))])
    for node in ("P2", "P5"):
        np.testing.assert_allclose(shared[node], alone[node], rtol=1e-5, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_large_pictures_decode_fast_and_close_to_a_plain_lanczos_resize(fmt, tmp_path):
    """A 4096² JPEG decodes at a DCT scale (Pillow's draft) and every big picture is reduced by a
    whole factor before LANCZOS: within 1.5 grey levels on average (99 % of values within 10) of
    decoding in full and resizing with LANCZOS alone, at exactly the same size and scale."""
    import io

    from PIL import Image

    from necklab.lab.imaging import decode

    big = Image.open(SAMPLES / "astronaut.png").convert("RGB").resize((4096, 3000), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, fmt, quality=92)
    fast = decode(buffer.getvalue())
    plain = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB").resize((1024, 750), Image.Resampling.LANCZOS)
    assert fast.size == (1024, 750) and fast.original_size == (4096, 3000)
    diff = np.abs(fast.rgb.astype(int) - np.asarray(plain, dtype=int))
    assert diff.mean() < 1.5 and np.percentile(diff, 99) <= 10, (diff.mean(), np.percentile(diff, 99))


def test_an_exif_rotated_jpeg_keeps_its_uploaded_size_under_the_draft(tmp_path):
    from PIL import Image

    from necklab.lab.imaging import decode

    big = Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((3000, 2000))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: the upright picture is 2000×3000
    path = tmp_path / "turned.jpg"
    big.save(path, exif=exif, quality=90)
    picture = decode(path)
    assert picture.original_size == (2000, 3000) and picture.size == (683, 1024)
