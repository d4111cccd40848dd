"""The ASPP lesson: effective receptive fields through backbone and neck, the 95 % mass area, clicks
to cells, and the taps figure's degenerate flags."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

import necklab.lab.analysis
from necklab.graph.trace import record, tracing
from necklab.lab.analysis import Analysis, analyse
from necklab.lab.erf import cell_at, effective_receptive_fields, mass_area
from necklab.lab.imaging import Picture
from necklab.viz.aspp import DEGENERATE, branches, erf_figure, taps, taps_figure
from necklab.viz.maps import to_original
from tests.conftest import SAMPLES
from tests.test_zoo import resized

ASPP_NODES = ["b1x1", "rate12", "rate24", "rate36", "pool", "project"]


def _titles(fig) -> list[str]:
    return [ax.get_title() for ax in fig.axes if ax.get_title()]


def _panel(fig, label: str) -> str:
    return next(t for t in _titles(fig) if t.startswith(f"{label} ·"))


@pytest.fixture(scope="module")
def medium() -> Analysis:
    # 320×213 → a 7×10 C5. At ~160 px the C5 field (851 px) covers the picture several times over
    # and every branch's ERF spreads alike (95 % areas 0.81 vs 0.81 at the centre cell).
    return analyse(resized("chelsea.png", 320, 213), "aspp")


@pytest.fixture(scope="module")
def corner_erfs(medium: Analysis) -> dict[str, np.ndarray]:
    return effective_receptive_fields(medium, ASPP_NODES, (0, 0))


def test_erfs_are_non_negative_maps_on_the_analysed_picture(medium, corner_erfs) -> None:
    h, w = medium.picture.rgb.shape[:2]
    assert list(corner_erfs) == ASPP_NODES
    for node, erf in corner_erfs.items():
        assert erf.shape == (h, w), node
        assert np.isfinite(erf).all() and (erf >= 0).all() and erf.max() > 0, node


def test_1x1_erf_is_concentrated_at_the_cell_and_pooling_spreads(medium, corner_erfs) -> None:
    b1x1, pool = corner_erfs["b1x1"], corner_erfs["pool"]
    assert mass_area(b1x1)[1] < mass_area(pool)[1]
    assert mass_area(pool)[1] > 0.6  # the pooled value depends on the whole picture
    grid = medium.grid(5)
    centre = np.array([grid.start_y, grid.start_x])  # cell (0, 0)
    peak = np.array(np.unravel_index(b1x1.argmax(), b1x1.shape))
    assert np.linalg.norm(peak - centre) <= grid.rf_size / 2

    def mass_centre(erf: np.ndarray) -> np.ndarray:
        return np.array([(np.indices(erf.shape)[k] * erf).sum() / erf.sum() for k in range(2)])

    assert np.linalg.norm(mass_centre(b1x1) - centre) < np.linalg.norm(mass_centre(pool) - centre)


def test_each_node_gets_its_own_gradient_and_the_cached_models_are_reused(medium, corner_erfs, monkeypatch) -> None:
    def no_rebuild(*args, **kwargs):
        raise AssertionError("the ERF rebuilt a model")

    monkeypatch.setattr(necklab.lab.analysis, "build_neck", no_rebuild)
    monkeypatch.setattr(necklab.lab.analysis, "build_backbone", no_rebuild)
    with torch.inference_mode():  # a caller in inference mode still gets gradients
        alone = effective_receptive_fields(medium, ["pool"], (0, 0))
    np.testing.assert_allclose(alone["pool"], corner_erfs["pool"], rtol=1e-4, atol=1e-6)
    assert not np.allclose(corner_erfs["b1x1"], corner_erfs["pool"])


def test_cells_outside_the_map_are_refused(medium) -> None:
    with pytest.raises(ValueError, match="outside"):
        effective_receptive_fields(medium, ["b1x1"], (7, 0))


def test_mass_area_on_hand_made_maps() -> None:
    hot = np.zeros((10, 20))
    hot[3, 4] = 5.0
    assert mass_area(hot) == (1, 1 / 200)
    assert mass_area(np.ones((10, 10))) == (95, 0.95)
    assert mass_area(np.ones((10, 10)), 1.0) == (100, 1.0)
    two = np.zeros((4, 4))
    two[0, 0], two[1, 1] = 3.0, 1.0  # 75 % in one pixel: 95 % needs both
    assert mass_area(two) == (2, 2 / 16) and mass_area(two, 0.75)[0] == 1
    assert mass_area(np.zeros((3, 3))) == (0, 0.0)
    with pytest.raises(ValueError):
        mass_area(-hot)


def test_cell_at_maps_clicks_in_original_pixels_to_cells() -> None:
    # The analysed picture is half the uploaded size, so the click must be scaled.
    rgb = np.asarray(Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((160, 107))).copy()
    analysis = analyse(Picture(rgb, (320, 214), "PNG", 1), "aspp")
    rows, cols = analysis.trace["C5"].shape[-2:]
    assert cell_at(analysis, 5, 0, 0) == (0, 0)
    assert cell_at(analysis, 5, 319, 213) == (rows - 1, cols - 1)
    assert cell_at(analysis, 5, 319, 0) == (0, cols - 1)
    assert cell_at(analysis, 5, -50, 10_000) == (rows - 1, 0)  # clamped
    grid = analysis.grid(5)
    for i, j in [(1, 2), (2, 3)]:
        x, y = to_original(analysis.picture, grid.start_x + j * grid.jump, grid.start_y + i * grid.jump)
        assert cell_at(analysis, 5, x, y) == (i, j)


def test_taps_on_a_5x7_map_leave_rate_36_with_its_centre_only() -> None:
    analysis = analyse(resized("chelsea.png", 224, 160), "aspp")
    assert analysis.trace["C5"].shape[-2:] == (5, 7)
    by_node = {b.node: b for b in branches(analysis)}
    positions, inside = taps(by_node["rate36"], (2, 3), 5, 7)
    assert positions.tolist()[4] == [2, 3] and inside.tolist() == [False] * 4 + [True] + [False] * 4
    fig = taps_figure(analysis, (2, 3))
    for label in ("rate 12", "rate 24", "rate 36"):
        assert DEGENERATE in _panel(fig, label)
    for label in ("1×1", "image pool"):
        assert DEGENERATE not in _panel(fig, label)
    fig.savefig(io.BytesIO(), format="png")


def test_taps_on_a_larger_map_keep_the_rates_that_fit() -> None:
    analysis = analyse(resized("chelsea.png", 416, 416), "aspp")  # 13×13 C5: 0 + 12 is on it, 0 + 24 not
    fig = taps_figure(analysis, (0, 0))
    assert DEGENERATE not in _panel(fig, "rate 12") and "4/9 taps on the map" in _panel(fig, "rate 12")
    assert DEGENERATE in _panel(fig, "rate 24")


def test_taps_follow_edited_rates() -> None:
    analysis = analyse(resized("chelsea.png", 224, 160), "aspp", {"atrous_rates": (1, 2, 6)})
    fig = taps_figure(analysis, (2, 3))
    assert [t.split(" ·")[0] for t in _titles(fig)] == ["1×1", "rate 1", "rate 2", "rate 6", "image pool"]
    assert "9/9 taps" in _panel(fig, "rate 2") and DEGENERATE in _panel(fig, "rate 6")


def test_erf_figure_aligns_every_map_with_the_picture(medium, corner_erfs) -> None:
    fig = erf_figure(medium, corner_erfs, (0, 0))
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert len(panels) == len(ASPP_NODES)
    for ax in panels:
        picture, heat = ax.get_images()
        assert heat.get_extent() == picture.get_extent()
        assert "95 % of the mass" in ax.get_title() and "px²" in ax.get_title()
    assert any(ax.get_xlabel() == "|∂output/∂input| (normalised)" for ax in fig.axes)
    fig.savefig(io.BytesIO(), format="png")


def test_tracing_can_keep_the_graph() -> None:
    x = torch.ones(2, requires_grad=True)
    with tracing() as plain:
        record("y", x * 2)
    with tracing(keep_graph=True) as kept:
        record("y", x * 2)
    assert not plain["y"].requires_grad and kept["y"].requires_grad


def test_effective_receptive_field_equals_captum_saliency():
    """The ERF computes what captum's Saliency (abs=True) does, for all nodes in one forward."""
    from captum.attr import Saliency

    from necklab.lab.analysis import backbone_on, neck_on
    from necklab.models.backbone import normalise

    analysis = analyse(resized("chelsea.png", 96, 64), "aspp")
    cell = (1, 2)
    ours = effective_receptive_fields(analysis, ["rate12", "project"], cell)
    backbone, neck = backbone_on("cpu"), neck_on("aspp", analysis.config, "cpu")

    def node_at_cell(rgb01: torch.Tensor, node: str) -> torch.Tensor:
        with tracing(keep_graph=True) as trace:
            neck([backbone.forward_features(normalise(rgb01))[-1]])
        return trace[node][:, :, cell[0], cell[1]].sum(dim=1)

    x = analysis.picture.tensor()
    for node in ("rate12", "project"):
        with torch.inference_mode(False), torch.enable_grad():
            saliency = Saliency(lambda t, node=node: node_at_cell(t, node))
            theirs = saliency.attribute(x.clone().requires_grad_(True), abs=True)
        assert np.allclose(ours[node], theirs[0].sum(dim=0).numpy(), rtol=1e-4, atol=1e-7)
