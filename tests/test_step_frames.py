"""The fast step path: a step's maps are a sheet drawn with numpy and Pillow (the node's mean map on
the picture through its cell grid, its strongest channels, their words and colour scales), NAS-FPN's
cells a frame that redraws only what a cell changes (`Blitted`, the same pixels as the figure drawn
afresh), and no whole figure is drawn again while stepping. Renders are counted, never timed."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import gradio as gr
import numpy as np
import pytest
from matplotlib.figure import Figure

from necklab.graph.steps import Steps
from necklab.i18n import t
from necklab.lab.analysis import analyse
from necklab.lessons import nasfpn as nasfpn_lesson
from necklab.ui.neck_tab import render_step, step_image, tab_view
from necklab.viz.maps import cell_edges, mean_map, original_extent, picture_tile
from necklab.viz.nasfpn import cell_figure, has_attention, is_cell
from necklab.viz.render import figure_image
from necklab.viz.sheet import fitted, font, lut, map_tile, text_mask, wrapped
from necklab.viz.step import StepFrame, on_picture, step_figure, step_sheet
from necklab.widgets.session import Session


@pytest.fixture(scope="module")
def fpn(chelsea):
    return analyse(chelsea, "fpn")


@pytest.fixture(scope="module")
def spp(chelsea):
    return analyse(chelsea, "spp")


@pytest.fixture(scope="module")
def nasfpn(chelsea):
    return analyse(chelsea, "nasfpn")


@contextmanager
def full_draws() -> Iterator[list[Figure]]:
    """The figures drawn whole (laid out and every artist drawn) inside the block."""
    drawn: list[Figure] = []
    original = Figure.draw

    def counted(self: Figure, renderer: object) -> None:
        drawn.append(self)
        original(self, renderer)

    Figure.draw = counted  # type: ignore[method-assign]
    try:
        yield drawn
    finally:
        Figure.draw = original  # type: ignore[method-assign]


def assert_same_pixels(shown: np.ndarray, fresh: np.ndarray) -> None:
    assert shown.shape == fresh.shape
    assert np.abs(shown.astype(int) - fresh.astype(int)).max() == 0


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_step_shows_its_nodes_mean_map_and_strongest_channels(fpn, spp, lang):
    # maps on the picture at every level, then maps on their own cells (SPP's bins)
    for analysis, node, mean_title in ((fpn, "P4", "step.mean_on_picture"), (fpn, "P6", "step.mean_on_picture"),
                                       (spp, "bins4", "step.mean_cells")):
        x = analysis.trace[node].float()
        shown = step_sheet(analysis, node, lang=lang)
        mean, *channels = shown.tiles
        c, h, w = x.shape[1:]
        assert mean.title == t(mean_title, lang, c=c, h=h, w=w) and mean.under == t("step.mean_activation", lang)
        assert (mean.low, mean.high) == pytest.approx((mean_map(x).min(), mean_map(x).max()))
        energy = x[0].pow(2).sum(dim=(1, 2))
        strongest = energy.argsort(descending=True)[:4].tolist()
        assert [tile.title for tile in channels] == [t("step.channel", lang, ch=ch) for ch in strongest]
        for tile, ch in zip(channels, strongest):
            assert (tile.low, tile.high) == pytest.approx((float(x[0, ch].min()), float(x[0, ch].max())))
        assert shown.title.startswith(f"{node} · ")
        assert step_image(analysis, node, lang).shape == shown.image().shape


def test_a_pooled_vector_step_is_its_bar_figure(spp):
    assert_same_pixels(step_image(spp, "vector"), figure_image(step_figure(spp, "vector")))


def test_the_packs_step_figure_shows_the_nodes_maps_through_its_cell_grid(fpn):
    x = fpn.trace["P4"].float()
    frame = StepFrame(fpn.picture, 4)
    for node in ("P6", "P4"):  # a frame that showed another level first
        frame.show(fpn, node)
    assert on_picture(fpn, "P4")
    np.testing.assert_array_equal(frame.mean.get_array(), mean_map(x))
    assert frame.mean.get_extent() == pytest.approx(original_extent(fpn.picture, fpn.grid(4), *x.shape[-2:]))
    assert frame.mean.get_clim() == pytest.approx((mean_map(x).min(), mean_map(x).max()))
    energy = x[0].pow(2).sum(dim=(1, 2))
    strongest = energy.argsort(descending=True)[:4].tolist()
    for im, ch in zip(frame.channels, strongest):
        np.testing.assert_array_equal(im.get_array(), x[0, ch].numpy())
        assert im.axes.get_title() == t("step.channel", "en", ch=ch)
    assert frame.title.get_text().startswith("P4 · ")
    assert frame.ax.get_title() == t("step.mean_on_picture", "en", c=x.shape[1])
    bar = frame.mean.colorbar
    assert bar is not None and bar.ax.get_ylabel() == t("step.mean_activation", "en")
    assert bar.ax.get_ylim() == pytest.approx(frame.mean.get_clim())


def test_a_map_tile_colours_each_cell_through_its_colour_map():
    values = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 8.0]])
    tile = map_tile(values, 60, "viridis", "six cells")
    assert tile.pixels.shape == (40, 60, 3) and (tile.low, tile.high) == (0.0, 8.0)
    table = lut("viridis")
    for (i, j), value in np.ndenumerate(values):  # each cell a 20-px block of its colour
        block = tile.pixels[20 * i:20 * i + 20, 20 * j:20 * j + 20].reshape(-1, 3)
        assert (block == table[int(value * 255 / 8)]).all()


def test_a_map_on_the_picture_lies_over_its_own_cells(fpn):
    """One hot cell of P4's grid: on the tile it covers the picture where that cell's edges say
    (in original-picture pixels, scaled to the tile), and nowhere else."""
    x = fpn.trace["P4"]
    rows, cols = x.shape[-2:]
    values = np.zeros((rows, cols))
    values[5, 7] = 1.0
    tile = picture_tile(fpn.picture, values, fpn.grid(4), 400, "hot cell")
    ys, xs = cell_edges(fpn.picture, fpn.grid(4), rows, cols)
    w, h = fpn.picture.original_size
    scale = 400 / w
    hot = np.abs(tile.pixels.astype(int) - 0.6 * lut("viridis")[255]).max(axis=2) < 0.4 * 255 + 1
    cold = np.abs(tile.pixels.astype(int) - 0.6 * lut("viridis")[0]).max(axis=2) < 0.4 * 255 + 1
    inside = (slice(int(np.ceil((ys[5] + 0.5) * scale)), int((ys[6] + 0.5) * scale)),
              slice(int(np.ceil((xs[7] + 0.5) * scale)), int((xs[8] + 0.5) * scale)))
    assert tile.pixels.shape[:2] == (round(400 * h / w), 400)
    assert hot[inside].all() and not cold[inside].any()
    assert cold[inside[0], int((xs[9] + 0.5) * scale) + 1].all()  # the next cell to the right: cold


def test_words_too_wide_for_a_tile_are_made_smaller_then_cut():
    text = "a title far too long for its tile"
    assert text_mask(text, 17).shape[1] > 120
    assert fitted(text, 17, 120).shape[1] <= 120
    assert fitted(text, 17, 1000).shape == text_mask(text, 17).shape


def test_a_long_title_is_broken_at_a_space_and_chinese_anywhere():
    lines = wrapped("the pyramid the neck starts from, each map on the picture", 20, 300)
    assert len(lines) == 2 and " ".join(lines) == "the pyramid the neck starts from, each map on the picture"
    assert font(20).getlength(lines[0]) <= 300 and not lines[0].endswith(" ")
    chinese = wrapped("颈部网络的起点金字塔：每张为通道均值叠加在图片上（各自配色）", 20, 200)
    assert len(chinese) == 2 and "".join(chinese).startswith("颈部网络") and font(20).getlength(chinese[0]) <= 200
    assert wrapped("short", 20, 300) == ["short"]


def test_stepping_draws_no_matplotlib_figure(fpn):
    """After a run (step 0 drawn), every later step redraws only its highlight on the graph, and
    its maps are a sheet (numpy and Pillow); step 0 again draws no figure either."""
    tab_view(fpn, "", "en")
    steps = Steps.of(fpn.topology)
    with full_draws() as drawn:
        shown = [render_step(fpn, k, "en") for k in range(1, len(steps))]
        render_step(fpn, 0, "en")
    assert drawn == []
    assert len({s.figure.tobytes() for s in shown}) == len(shown)  # every step shows its own node


def test_a_nasfpn_cell_shows_the_pixels_of_its_figure_drawn_afresh(nasfpn):
    cells = [n for n in nasfpn.topology.order if is_cell(nasfpn, n)]
    gp = [n for n in cells if has_attention(nasfpn, n)]
    plain = [n for n in cells if not has_attention(nasfpn, n)]
    assert gp and plain
    for node in (gp[0], plain[0], gp[-1], plain[-1]):
        figure = cell_figure(nasfpn, node)
        assert figure is not None
        assert_same_pixels(nasfpn_lesson.cell_image(nasfpn, node), figure_image(figure))


def test_nasfpn_steps_draw_their_cells_in_two_frames(nasfpn):
    nasfpn_lesson._cell_frames.clear()
    steps = Steps.of(nasfpn.topology)
    nasfpn_lesson.cell_view(Session(), nasfpn, 0)
    with full_draws() as drawn:
        images = [nasfpn_lesson.cell_view(Session(), nasfpn, k) for k in range(1, steps.last + 1, 7)]
    assert len(drawn) <= 1  # the frame of the other kind of cell (with or without attention)
    assert len(nasfpn_lesson._cell_frames) == 2
    assert all(view is not None and view.cell.ndim == 3 for view in images)


def test_a_step_goes_out_as_a_png_of_its_exact_pixels(fpn, tmp_path):
    from PIL import Image

    from necklab.ui.neck_tab import StepShown
    from necklab.widgets.common import figure_box, png_file
    from necklab.widgets.events import Shows

    graph, box, words = figure_box("neck.graph", "x-graph"), figure_box("neck.stepfig", "x-stepfig"), gr.Markdown()
    pixels = step_image(fpn, "P4")
    sent = Shows(StepShown, graph=graph, figure=box, narration=words).updates(StepShown(pixels, pixels, "P4"))
    assert sent[words] == "P4" and sent[graph] == sent[box]  # the same picture is one file
    path = sent[box]
    assert isinstance(path, str) and path.endswith(".png") and path.startswith(str(box.GRADIO_CACHE))
    with Image.open(path) as png:
        np.testing.assert_array_equal(np.asarray(png.convert("RGB")), pixels)
    assert png_file(pixels, tmp_path) == png_file(pixels, tmp_path)  # one file per image
