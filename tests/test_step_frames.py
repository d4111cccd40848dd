"""The fast step path: a step's figure is drawn once per kind of map (`StepFrame`, NAS-FPN's
`CellFrame`) and each step redraws only what its node changes (`Blitted`) — the same pixels as the
figure drawn afresh (what packs save), the same maps, words and colour bars, and no whole figure
drawn again while stepping. Renders are counted, never timed."""
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
from necklab.ui import neck_tab
from necklab.ui.neck_tab import render_step, step_image, tab_view
from necklab.viz.maps import mean_map, original_extent
from necklab.viz.nasfpn import cell_figure, has_attention, is_cell
from necklab.viz.render import figure_image
from necklab.viz.step import StepFrame, on_picture, step_figure
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
def test_a_step_shows_the_pixels_of_its_figure_drawn_afresh(fpn, spp, lang):
    # maps on the picture at every level (one frame for all), then maps on their own cells (SPP's bins)
    for analysis, nodes in ((fpn, ["P3", "C2", "P6", "T4", "P3"]), (spp, ["bins1", "bins4", "bins2"])):
        for node in nodes:
            assert_same_pixels(step_image(analysis, node, lang), figure_image(step_figure(analysis, node, lang=lang)))


def test_a_pooled_vector_step_is_its_bar_figure(spp):
    assert_same_pixels(step_image(spp, "vector"), figure_image(step_figure(spp, "vector")))


def test_the_step_figure_shows_the_nodes_maps_through_its_cell_grid(fpn):
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


def test_stepping_draws_no_whole_figure(fpn):
    """After a run (step 0 drawn, the next step's frame laid out), every later step redraws only
    its highlight on the graph and its node's artists on the step figure; step 0 again is kept."""
    neck_tab._step_frames.clear()
    neck_tab._openings.clear()
    tab_view(fpn, "", "en")
    steps = Steps.of(fpn.topology)
    with full_draws() as drawn:
        shown = [render_step(fpn, k, "en") for k in range(1, len(steps))]
        render_step(fpn, 0, "en")
    assert drawn == []
    assert len({id(frame) for frame in neck_tab._step_frames.values()}) == 1
    assert all(frame.draws == 1 for frame in neck_tab._step_frames.values())
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
