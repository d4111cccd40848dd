"""NAS-FPN's lesson: the reference's merging cells, a stage jump, each cell's resized inputs,
global-pooling attention and output."""
from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr
import numpy as np
from matplotlib.figure import Figure

from necklab.graph.steps import Jump, Steps
from necklab.graph.topology import Op
from necklab.lab.analysis import Analysis
from necklab.lab.cache import IDLE_S, LRU
from necklab.lessons.base import Lesson, LessonFigure, caption, file_safe, first_stage
from necklab.viz.nasfpn import (
    CellFrame,
    cell_figure,
    cell_rows,
    cell_table_headers,
    first_step_of_stage,
    has_attention,
    is_cell,
)
from necklab.viz.render import Blitted
from necklab.widgets.common import figure_box, whole
from necklab.widgets.events import Shows, event, reading
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def nasfpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """The merging cells of the first stage (every stage repeats them)."""
    stage = first_stage(analysis) or 1
    cells = [n.id for n in analysis.topology.nodes
             if n.stage == stage and "resized" in analysis.trace.extras.get(n.id, {})]
    return [LessonFigure(f"nasfpn-cell-{file_safe(node)}", caption("nasfpn_cell", lang, node=node),
                         partial(_cell_figure, analysis, node, lang)) for node in cells]


def _cell_figure(analysis: Analysis, node: str, lang: str) -> Figure:
    figure = cell_figure(analysis, node, lang)
    if figure is None:
        raise ValueError(f"{node} is not a merging cell")
    return figure


@dataclass(frozen=True)
class Stages:
    """The stages to jump to (none chosen) and the table of the merging cells."""

    stage: Any
    cells: list[list]


def stage_list(session: Session, analysis: Analysis) -> Stages:
    """The stages to jump to (the dropdown, hidden until a run gives it stages) and the cell table."""
    stages = sorted({n.stage for n in analysis.topology.nodes if n.stage is not None})
    return Stages(stage=gr.Dropdown(choices=[str(s) for s in stages], value=None, visible=True),
                  cells=cell_rows(analysis, session.lang))


def stage_start(analysis: Analysis | None, chosen: str | None, every: bool = False) -> Any:
    """The step of the first cell of the chosen stage (steps counted as the step-through counts them)."""
    if analysis is None or not chosen:
        return gr.skip()
    first = analysis.topology.order[first_step_of_stage(analysis, int(chosen))]
    return Steps.of(analysis.topology, bool(every)).index(first)


@dataclass(frozen=True)
class CellShown:
    """The figure of the merging cell at the step on screen."""

    cell: np.ndarray


def cell_view(session: Session, analysis: Analysis | None, k: float, every: bool = False) -> CellShown | None:
    """The merging cell of step k — or, before the first cell, the first cell (its title names it)."""
    if analysis is None:
        return None
    order, steps = analysis.topology.order, Steps.of(analysis.topology, bool(every))
    at = order.index(steps[min(max(whole(k, session.lang), 0), steps.last)][-1])
    cells = [i for i, node in enumerate(order) if is_cell(analysis, node)]
    shown = next((i for i in cells if i >= at), cells[-1])
    return CellShown(cell_image(analysis, order[shown], session.lang))


# Cell figures drawn once per picture, kind of cell (with attention or not) and language: a step
# then redraws only what its cell changes (`Blitted`).
CELL_FRAMES_MB = 64
_cell_frames: LRU[Hashable, Blitted] = LRU(8, budget=CELL_FRAMES_MB * 1024 * 1024, weigh=lambda b: b.nbytes,
                                           idle=IDLE_S)


def cell_image(analysis: Analysis, node: str, lang: str = "en") -> np.ndarray:
    """A merging cell's figure (`cell_figure`) as an image, drawn by its kind's frame."""
    attention = has_attention(analysis, node)
    key = (analysis.picture.key, attention, lang)
    frame = _cell_frames.get_or_make(key, lambda: Blitted(CellFrame(analysis.picture, attention, lang)))
    return frame.image(analysis, node)


def nasfpn_panel(tab: TabHooks) -> None:
    localised(gr.Markdown, {"value": "panel.nasfpn_intro"})
    with gr.Row():
        stage = localised(gr.Dropdown, {"label": "panel.nasfpn_stage"}, choices=[], elem_id="nas-fpn-stage",
                          visible=False)
    cell = figure_box("panel.nasfpn_cell", "nas-fpn-cell")
    cells = localised(gr.Dataframe, {"label": "panel.nasfpn_cells", "headers": cell_table_headers},
                      interactive=False, elem_id="nas-fpn-cells")

    tab.redraw_after_run(stage_list, Shows(Stages, stage=stage, cells=cells))
    # select, not change: choosing the same stage again jumps to it again
    stage.select(reading(stage_start), [tab.state, stage, tab.every], [tab.step], api_visibility="private")
    inputs = [tab.session, tab.state, tab.step, tab.every]
    shown = Shows(CellShown, cell=cell)
    tab.follow_step(event(cell_view, shown), inputs, shown.outputs)
    tab.after_run.append((event(cell_view, shown), inputs, shown.outputs))  # and in a new language


LESSON = Lesson("nasfpn", nasfpn_figures, nasfpn_panel,
                 jumps=(Jump("first_cell", (Op.GP_CELL, Op.SUM_CELL)), Jump("stage_boundary", stage=2)))
