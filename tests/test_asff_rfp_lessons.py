"""ASFF's and Recursive-FPN's lessons: the figures' computed claims, their layout, and the panel handlers."""
from __future__ import annotations

import re

import gradio as gr
import numpy as np
import pytest
from matplotlib.image import AxesImage
from matplotlib.text import Text

from necklab.lab.analysis import analyse
from necklab.lessons.asff import asff_level_view, asff_views
from necklab.lessons.rfp import rfp_views
from necklab.viz.asff import levels, weight_sum_deviation, weights_figure
from necklab.viz.maps import original_extent
from necklab.viz.rfp import fusions, gates_figure, passes_figure, unrolled_figure
from necklab.widgets.session import Session
from tests.test_zoo import resized

EN = Session()


@pytest.fixture(scope="module")
def picture():
    return resized("chelsea.png", 160, 128)


@pytest.fixture(scope="module")
def asff(picture):
    return analyse(picture, "asff")


@pytest.fixture(scope="module")
def rfp_reference(picture):
    return analyse(picture, "rfp", {"feedback_init": "reference"}, weights="fresh")  # as the reference starts it


@pytest.fixture(scope="module")
def rfp_random(picture):
    return analyse(picture, "rfp", {"feedback_init": "random"})


def texts(fig) -> list[str]:
    return [t.get_text() for t in fig.findobj(Text)]


def titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def test_asff_weights_sum_to_one_and_the_figure_says_so(asff):
    assert levels(asff) == [3, 4, 5]
    for level in levels(asff):
        assert weight_sum_deviation(asff, level) < 1e-5
        fig = weights_figure(asff, level)
        shown = titles(fig)
        assert len(shown) == 10  # three weights, their sum, the winner; three sources, fused, output
        stated = float(re.search(r"max \|Σw − 1\| = (\S+)", "\n".join(shown)).group(1))
        assert stated < 1e-5
        assert sum("mean" in t and t.startswith("weight of level") for t in shown) == 3
        assert any(t.startswith(f"output A{level}") for t in shown)
        assert "sum to 1" in fig.get_suptitle()
        assert any(t.startswith("softmax weight") for t in texts(fig))  # the labelled shared colour bar


def test_asff_maps_lie_on_the_cell_grid_of_their_level(asff):
    level = 4
    fig = weights_figure(asff, level)
    h, w = asff.trace["A4"].shape[-2:]
    expected = original_extent(asff.picture, asff.grid(level), h, w)
    maps = [im for im in fig.findobj(AxesImage) if im.get_array().shape == (h, w)]
    assert len(maps) == 10
    assert all(np.allclose(im.get_extent(), expected) for im in maps)
    assert all(im.get_clim() == (0, 1) for im in maps[:4])  # weights and their sum on one 0…1 scale


def test_rfp_reference_init_gives_identical_passes_and_half_gates(rfp_reference):
    found = fusions(rfp_reference)
    assert [f.out for f in found] == list(rfp_reference.outputs)
    assert all(f.max_difference == 0 for f in found)
    assert all(np.all(f.gate == 0.5) for f in found)
    passes = passes_figure(rfp_reference)
    assert sum("max |pass 2 − pass 1| = 0 (identical)" in t for t in titles(passes)) == len(found)
    assert "every gate is exactly 0.5" in passes.get_suptitle()
    gates = gates_figure(rfp_reference)
    assert all("mean 0.500\nmin 0.500 · max 0.500" in t for t in titles(gates))
    assert "exactly 0.5" in gates.get_suptitle()


def test_rfp_random_init_makes_the_passes_differ(rfp_random):
    found = fusions(rfp_random)
    assert all(f.max_difference > 0 for f in found)
    assert not all(np.all(f.gate == 0.5) for f in found)
    passes = passes_figure(rfp_random)
    assert not any("identical" in t for t in titles(passes))
    assert "the passes differ" in passes.get_suptitle()
    assert "exactly" not in gates_figure(rfp_random).get_suptitle()


def test_rfp_unrolled_figure_shows_each_parts_parameters(rfp_reference):
    params = rfp_reference.node_params
    fpn = sum(params[n] for n in rfp_reference.topology.order if n.startswith("1."))
    backbone = sum(params[f"2.C{lvl}"] for lvl in range(2, 6))
    aspp, gate = params["2.A3"], params["2.G2"]
    assert fpn + aspp + gate == rfp_reference.params  # shared modules counted once add up to the neck
    shown = "\n".join(texts(unrolled_figure(rfp_reference)))
    for count in (fpn, aspp, gate, backbone, rfp_reference.params):
        assert f"{count:,}" in shown
    for part in ("backbone pass 1", "FPN pass 1", "feedback ASPP", "backbone pass 2", "FPN pass 2", "gate",
                 "fused outputs", "1×1 feedback conv"):
        assert part in shown


@pytest.mark.slow
def test_panel_handlers_return_images(asff, rfp_random):
    shown = asff_views(EN, asff, None)
    selector, img = shown.level, shown.weights
    assert selector.value == 3 and [v for _, v in selector.choices] == [3, 4, 5]
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    assert asff_views(EN, asff, 5).level.value == 5
    assert asff_level_view(EN, asff, 4).shape[2] == 3
    assert asff_level_view(EN, None, 4) == gr.skip()
    rfp = rfp_views(EN, rfp_random)
    for img in (rfp.unrolled, rfp.passes, rfp.gates):
        assert img.ndim == 3 and img.shape[2] == 3 and img.std() > 5
