"""The 16:9 slide preset of figure packs: any figure comes out 1920×1080 at 300 dpi with its smallest
words at least 18 px tall on the slide; SVGs keep their words as text naming fallback fonts, without
changing matplotlib's settings for anyone else; the pack's graph is laid out for the slide (turned
when it is long, legend under it) while the app's graph keeps its layout."""
from __future__ import annotations

import matplotlib
import pytest
from matplotlib.figure import Figure
from PIL import Image

from necklab.lab.analysis import analyse
from necklab.lessons.base import graph_figure
from necklab.viz import slide
from necklab.viz.graph import SLIDE_SIZE, GraphPicture, slide_turned


def wide_figure() -> Figure:
    fig = Figure(figsize=(20, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_title("宽图 wide", fontsize=9)
    return fig


def test_a_wide_figure_becomes_a_16_9_slide_with_readable_words(tmp_path):
    fig = wide_figure()
    slide.fit_to_slide(fig)
    w, h = fig.get_size_inches()
    assert w / h == pytest.approx(slide.ASPECT)
    assert slide.text_px(slide.smallest_text(fig), w) >= slide.MIN_TEXT_PX - 1e-9  # ticks and title
    slide.save_png(fig, tmp_path / "wide.png")
    with Image.open(tmp_path / "wide.png") as png:
        assert png.size == slide.SLIDE_PX
        assert png.info["dpi"] == pytest.approx((slide.SLIDE_DPI, slide.SLIDE_DPI), abs=0.01)


def test_svg_words_stay_text_with_fallback_fonts(tmp_path):
    fonttype = matplotlib.rcParams["svg.fonttype"]
    slide.save_svg(wide_figure(), tmp_path / "wide.svg")
    svg = (tmp_path / "wide.svg").read_text(encoding="utf-8")
    assert ">宽图 wide</text>" in svg
    assert "font-family: 'DejaVu Sans', 'NeckLab Sans SC', 'Noto Sans CJK SC'" in svg and "sans-serif" in svg
    assert matplotlib.rcParams["svg.fonttype"] == fonttype  # set for the pack's SVGs only


def test_the_packs_graph_is_laid_out_for_the_slide(chelsea):
    pafpn = analyse(chelsea, "pafpn")
    assert slide_turned(pafpn.topology)  # 11 steps over 5 levels: turned, levels as columns
    fig = graph_figure(pafpn, "zh")
    w, h = fig.get_size_inches()
    assert (w, h) == pytest.approx(SLIDE_SIZE) and w / h == pytest.approx(slide.ASPECT)
    assert slide.text_px(slide.smallest_text(fig), w) >= slide.MIN_TEXT_PX - 1e-9
    legend = fig.axes[0].get_legend().get_window_extent()
    assert legend.y1 < fig.axes[0].get_window_extent().y0  # under the graph, not beside it
    screen = GraphPicture(pafpn.topology, pafpn.trace.tensors)  # the app's graph: levels as rows
    assert screen.pos["C2"] == (0.0, 0.0) and screen.pos["L2"] == (1.0, 0.0)
    assert not slide_turned(analyse(chelsea, "spp").topology)
