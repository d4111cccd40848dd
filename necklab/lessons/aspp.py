"""ASPP's lesson: click the picture to see each branch's taps and receptive field at a C5 cell
(degenerate branches flagged) and the effective receptive field of each branch and of the output."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from necklab.graph.steps import Arrival, Jump
from necklab.graph.topology import Op
from necklab.lab.analysis import Analysis
from necklab.lab.erf import cell_at, effective_receptive_fields
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.viz.aspp import branches, erf_figure, taps_figure
from necklab.viz.maps import to_original
from necklab.widgets.common import figure_box, image, no_picture
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def aspp_cell(analysis: Analysis, cell: tuple[int, int] | None = None) -> tuple[int, int]:
    """`cell` if it lies on the C5 map, else the map's centre."""
    h, w = analysis.trace[analysis.topology.inputs[0]].shape[-2:]
    return cell if cell is not None and 0 <= cell[0] < h and 0 <= cell[1] < w else (h // 2, w // 2)


def aspp_figures(analysis: Analysis, lang: str = "en", cell: tuple[int, int] | None = None) -> list[LessonFigure]:
    """Taps and receptive-field boxes of every branch at a C5 cell (default: the centre), and the
    effective receptive field of each branch and of the fused output there."""
    cell = aspp_cell(analysis, cell)
    nodes = [b.node for b in branches(analysis)] + list(analysis.outputs)
    erfs = effective_receptive_fields(analysis, nodes, cell)
    at = f"({cell[0]}, {cell[1]})"
    return [LessonFigure("aspp-taps", caption("aspp_taps", lang, cell=at), lambda: taps_figure(analysis, cell, lang)),
            LessonFigure("aspp-erf", caption("aspp_erf", lang, cell=at),
                         lambda: erf_figure(analysis, erfs, cell, lang))]


@dataclass(frozen=True)
class AsppView:
    """Taps and receptive-field boxes of every branch at a C5 cell, the effective receptive fields
    there, and the cell (kept for a redraw in another language)."""

    taps: Any
    erf: Any
    cell: tuple[int, int]


@dataclass(frozen=True)
class AsppPanel(AsppView):
    """After a run: also the picture to click."""

    picture: Any


def aspp_views(session: Session, analysis: Analysis, cell: tuple[int, int] | None) -> AsppView:
    """Taps and receptive-field boxes of every branch at a cell, and the effective receptive field
    of each branch and of the fused output there. Without a cell: the centre of the C5 map."""
    cell = aspp_cell(analysis, cell)
    taps, erf = aspp_figures(analysis, session.lang, cell)
    return AsppView(taps=image(taps.make()), erf=image(erf.make()), cell=cell)


def aspp_panel_views(session: Session, analysis: Analysis, cell: tuple[int, int] | None) -> AsppPanel:
    """After a run: the picture to click, and the views at the cell last clicked (or the centre)."""
    return AsppPanel(**vars(aspp_views(session, analysis, cell)), picture=analysis.picture.rgb)


def aspp_click(session: Session, analysis: Analysis | None, evt: gr.SelectData) -> AsppView:
    """A click on the picture (analysed pixels) → the C5 cell under it → taps and ERF there."""
    if analysis is None:
        raise no_picture(session.lang)
    x, y = to_original(analysis.picture, *evt.index)
    level = analysis.topology.node(analysis.topology.inputs[0]).level
    if level is None:
        raise ValueError("ASPP's input has no pyramid level")
    return aspp_views(session, analysis, cell_at(analysis, level, float(x), float(y)))


# The rates the preset button tries: small enough that every tap lands on a small C5 map.
SMALL_RATES = (2, 4, 6)


@dataclass(frozen=True)
class Beside:
    """What ASPP places beside the step's figure: the picture to click, every branch's taps there,
    and the button that reruns with small rates."""

    picture: gr.Image
    taps: gr.Image
    small: gr.Button


def aspp_beside() -> Beside:
    """Under the step's figure, beside its narration: the picture to click with what it is for and
    the small-rates button, then every branch's taps at the clicked cell."""
    with gr.Row():
        with gr.Column(scale=2, min_width=240):
            picture = localised(gr.Image, {"label": "panel.aspp_click"}, interactive=False, elem_id="aspp-click",
                                format="png")
        with gr.Column(scale=3):
            localised(gr.Markdown, {"value": "panel.aspp_intro"})
            small = localised(gr.Button, {"value": "panel.aspp_try_small"}, size="sm", elem_id="aspp-try-small")
    taps = figure_box("panel.aspp_taps", "aspp-taps")
    return Beside(picture, taps, small)


def aspp_panel(tab: TabHooks) -> None:
    """Wire the views beside the step (a click → taps there), the small-rates preset, and build the
    effective receptive fields under the tab."""
    beside: Beside = tab.beside_step
    erf = figure_box("panel.aspp_erf", "aspp-erf")
    cell = gr.State(None)
    tab.redraw_after_run(aspp_panel_views, Shows(AsppPanel, picture=beside.picture, taps=beside.taps, erf=erf,
                                                 cell=cell), [cell])
    clicked = Shows(AsppView, taps=beside.taps, erf=erf, cell=cell)
    beside.picture.select(event(aspp_click, clicked), [tab.session, tab.state], clicked.outputs,
                          api_name="aspp_click")
    tab.rerun_with(beside.small.click, "aspp", {"atrous_rates": ", ".join(map(str, SMALL_RATES))})


LESSON = Lesson("aspp", aspp_figures, aspp_panel, jumps=(Jump("dilated", (Op.CONV,), Arrival.DILATED),),
                beside_step=aspp_beside)
