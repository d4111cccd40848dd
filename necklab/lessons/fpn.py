"""FPN's lesson: the baseline the other pyramids refer to, its outputs on the picture."""
from __future__ import annotations

from typing import Any

import gradio as gr

from necklab.graph.steps import Arrival, Jump
from necklab.graph.topology import Op
from necklab.lab.analysis import Analysis
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.viz.panet import outputs_figure
from necklab.widgets.common import figure_box, image
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def fpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure("fpn-outputs", caption("fpn_outputs", lang),
                         lambda: outputs_figure([analysis], ["FPN"], lang))]


def fpn_views(session: Session, analysis: Analysis) -> Any:
    (outputs,) = fpn_figures(analysis, session.lang)
    return image(outputs.make())


def fpn_panel(tab: TabHooks) -> None:
    localised(gr.Markdown, {"value": "panel.fpn_intro"})
    outputs = figure_box("panel.fpn_outputs", "fpn-outputs")
    tab.redraw_after_run(fpn_views, outputs, shared=True)


LESSON = Lesson("fpn", fpn_figures, fpn_panel, jumps=(Jump("top_down", (Op.ADD,), Arrival.TOP_DOWN),))
