"""FPN's lesson: the baseline the other pyramids refer to, its outputs on the picture."""
from __future__ import annotations

import gradio as gr

from necklab.lab.analysis import Analysis
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.viz.panet import outputs_figure
from necklab.widgets.common import drawn, figure_box
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def fpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure("fpn-outputs", caption("fpn_outputs", lang), lambda: outputs_figure([analysis], ["FPN"], lang))]


def fpn_views(analysis: Analysis, lang: str = "en") -> tuple:
    return drawn(fpn_figures(analysis, lang))


def fpn_panel(tab: TabHooks) -> None:
    localised(gr.Markdown, {"value": "panel.fpn_intro"})
    outputs = figure_box("panel.fpn_outputs", "fpn-outputs")
    tab.redraw_after_run(fpn_views, [outputs])


LESSON = Lesson("fpn", fpn_figures, fpn_panel)
