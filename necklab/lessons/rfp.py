"""Recursive-FPN's lesson: the unrolled computation with its parameters, both passes' outputs
side by side, and the gate maps."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
import numpy as np

from necklab.graph.steps import Jump
from necklab.lab.analysis import Analysis
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.viz.rfp import gates_figure, passes_figure, unrolled_figure
from necklab.widgets.common import figure_box, image
from necklab.widgets.events import Shows
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def rfp_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure("rfp-unrolled", caption("rfp_unrolled", lang), lambda: unrolled_figure(analysis, lang)),
            LessonFigure("rfp-passes", caption("rfp_passes", lang), lambda: passes_figure(analysis, lang)),
            LessonFigure("rfp-gates", caption("rfp_gates", lang), lambda: gates_figure(analysis, lang))]


@dataclass(frozen=True)
class RfpView:
    unrolled: np.ndarray
    passes: np.ndarray
    gates: np.ndarray


def rfp_views(session: Session, analysis: Analysis) -> RfpView:
    """The unrolled schematic, the passes side by side and the gates, as images."""
    unrolled, passes, gates = rfp_figures(analysis, session.lang)
    return RfpView(unrolled=image(unrolled.make()), passes=image(passes.make()), gates=image(gates.make()))


def rfp_panel(tab: TabHooks) -> None:
    """Build the panel under the Recursive-FPN tab; it redraws after every run of the tab."""

    localised(gr.Markdown, {"value": "panel.rfp_intro"})
    unrolled = figure_box("panel.rfp_unrolled", "rfp-unrolled")
    passes = figure_box("panel.rfp_passes", "rfp-passes")
    gates = figure_box("panel.rfp_gates", "rfp-gates")

    tab.redraw_after_run(rfp_views, Shows(RfpView, unrolled=unrolled, passes=passes, gates=gates), shared=True)


LESSON = Lesson("rfp", rfp_figures, rfp_panel, jumps=(Jump("second_pass", stage=2),))
