"""The SPP lesson views on real features of chelsea.png, and the SPP/SPPF comparison behind one."""
from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from necklab.lab.analysis import Analysis, analyse
from necklab.lab.imaging import decode
from necklab.lab.spp_vs_sppf import _spp_pair, compare_spp_sppf
from necklab.viz.maps import cell_edges, channel_energy, partition_edges
from necklab.viz.spp import (
    FORMULA_HEADERS,
    bins_figure,
    formula_figure,
    formula_rows,
    spp_levels,
    spp_sppf_figure,
    vector_figure,
)
from tests.conftest import SAMPLES
from tests.test_zoo import resized


def rendered(fig: Figure) -> Figure:
    """Draw the figure once (as saving it would), so layout and artist errors surface here."""
    fig.savefig(io.BytesIO(), format="png", dpi=50)
    return fig


@pytest.fixture(scope="module")
def spp(chelsea) -> Analysis:
    return analyse(chelsea, "spp")


@pytest.fixture(scope="module")
def spp_scaled() -> Analysis:
    # Analysed at 256×170 for a 451×300 upload: C5's uniform cells stop 27 px short of the left edge.
    return analyse(decode(SAMPLES / "chelsea.png", max_side=256), "spp")


def test_bins_figure_has_a_map_and_a_picture_panel_per_level(spp) -> None:
    fig = rendered(bins_figure(spp))
    levels = [n for _, n in spp_levels(spp)]
    assert levels == [1, 2, 4]
    assert len(fig.axes) == 2 * len(levels) + 1  # + the colour bar
    tops = [ax.get_title() for ax in fig.axes[:len(levels)]]
    assert all(t.startswith(f"{n}×{n} bins on C5 (10×15)") for t, n in zip(tops, levels))
    strongest = int(channel_energy(spp.trace["C5"]).argmax())
    assert f"channel {strongest} (the channel with the most energy)" in fig.get_suptitle()
    assert "channel 7 (chosen channel)" in bins_figure(spp, channel=7).get_suptitle()
    with pytest.raises(ValueError, match="channel must be in 0…319"):
        bins_figure(spp, channel=320)


def test_partition_edges_map_the_whole_c5_grid_onto_the_whole_picture(spp_scaled) -> None:
    picture, grid = spp_scaled.picture, spp_scaled.grid(5)
    _, _, rows, cols = spp_scaled.trace["C5"].shape
    w, h = picture.original_size
    ys, xs = partition_edges(picture, grid, rows, cols)
    assert xs[0] <= 0 and xs[-1] >= w - 1 and ys[0] <= 0 and ys[-1] >= h - 1
    uniform_ys, uniform_xs = cell_edges(picture, grid, rows, cols)
    assert uniform_xs[0] > 0  # why the partition exists: the uniform cells leave a strip uncovered
    np.testing.assert_allclose(xs[1:-1], uniform_xs[1:-1])
    np.testing.assert_allclose(ys[1:-1], uniform_ys[1:-1])


def test_bins_on_the_picture_cover_it_and_stars_sit_on_the_winning_cells(spp_scaled) -> None:
    fig = rendered(bins_figure(spp_scaled))
    picture, grid = spp_scaled.picture, spp_scaled.grid(5)
    _, _, rows, cols = spp_scaled.trace["C5"].shape
    w, h = picture.original_size
    one_bin = fig.axes[3]  # bottom row, level 1
    (rect,) = [p for p in one_bin.patches if isinstance(p, Rectangle)]
    assert rect.get_xy() == pytest.approx((-0.5, -0.5))
    assert (rect.get_width(), rect.get_height()) == pytest.approx((w, h))
    channel = int(channel_energy(spp_scaled.trace["C5"]).argmax())
    r, c = divmod(int(spp_scaled.trace.extras["bins1"]["argmax"][channel, 0, 0]), cols)
    ys, xs = cell_edges(picture, grid, rows, cols)
    (star,) = one_bin.collections[0].get_offsets()
    assert tuple(star) == pytest.approx(((xs[c] + xs[c + 1]) / 2, (ys[r] + ys[r + 1]) / 2))


def test_vector_lengths_are_computed_and_stated(spp, chelsea) -> None:
    small = analyse(resized("chelsea.png", 160, 128), "spp")
    fig = rendered(vector_figure([spp, small]))
    assert len(fig.axes) == 2
    assert "451×300 px → C5 320×10×15 → vector of 6720" in fig.axes[0].get_title()
    assert "C5 320×4×5 → vector of 6720" in fig.axes[1].get_title()
    assert fig.get_suptitle().endswith("the same length, 6720, for both map sizes")
    fewer = analyse(chelsea, "spp", {"levels": (1, 2)})
    assert vector_figure([spp, fewer]).get_suptitle().endswith("the lengths differ: 6720, 1600")


def test_formula_rows_show_pytorchs_refusal_and_wrong_counts() -> None:
    rows = formula_rows(5, (1, 2, 3, 4))
    assert all(len(row) == len(FORMULA_HEADERS) for row in rows)
    by_level = {row[0]: row for row in rows}
    assert by_level["4×4"][1] == "2 · 2 · 2"
    assert by_level["4×4"][2] == ("PyTorch refuses: pad should be at most half of effective kernel size, "
                                  "but got pad=2, kernel_size=2 and dilation=1")
    assert by_level["3×3"][4] == "4 bins ✗ (wanted 3)"  # the paper's recipe at a = 5
    assert by_level["3×3"][5] == "[0,2) [1,4) [3,5)"


def test_formula_figure_draws_windows_and_the_refusal() -> None:
    fig = rendered(formula_figure(5, (1, 2, 3, 4)))
    assert len(fig.axes) == 4
    assert fig.axes[3].get_title(loc="left").startswith("4×4 bins wanted — blog recipe: refused")
    refusals = [t.get_text() for t in fig.axes[3].texts]
    assert len(refusals) == 1 and refusals[0].startswith("PyTorch refuses: pad should be at most half")
    assert not fig.axes[2].texts  # 3×3 is accepted: windows, no message
    blog_windows = [c for c in fig.axes[2].collections if c.get_paths()]
    assert len(blog_windows) == 3 + 1 + 3  # 3 blog windows, the padding part of the first, 3 bins


def test_spp_and_sppf_agree_exactly_and_the_models_are_cached(chelsea_features) -> None:
    c5 = chelsea_features["C5"]
    first = compare_spp_sppf(c5, repeats=2)
    misses = _spp_pair.cache_info().misses
    comparison = compare_spp_sppf(c5, repeats=2)
    assert _spp_pair.cache_info().misses == misses
    assert comparison.output_max_diff == 0.0
    assert comparison.pooled_max_diff == (0.0, 0.0, 0.0)
    assert list(comparison.spp_maps) == ["pool5", "pool9", "pool13"]
    assert list(comparison.sppf_maps) == ["pool5_1", "pool5_2", "pool5_3"]
    assert comparison.spp_maps["pool13"].shape == (1, 160, 10, 15)
    assert comparison.spp_seconds > 0 and comparison.sppf_seconds > 0
    fig = rendered(spp_sppf_figure(first))
    assert len(fig.axes) == 6 + 3  # maps + one colour bar per column
    assert "max |output difference| = 0" in fig.get_suptitle()
    assert fig.axes[5].get_title().endswith("5∘5∘5 · max |Δ| = 0")
