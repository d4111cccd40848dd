"""ASFF's lesson: for a chosen output level, the per-cell softmax weights of the three source
levels, their sum, the resized sources and the fused output."""
from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.viz.asff import levels, weights_figure
from necklab.widgets.common import figure_box, image
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def asff_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure(f"asff-level-{level}", caption("asff_level", lang, level=level),
                         lambda level=level: weights_figure(analysis, level, lang)) for level in levels(analysis)]


def level_choices(analysis: Analysis, lang: str = "en") -> list[tuple[str, int]]:
    """(label, level) of each output level, for the selector."""
    return [(t("panel.asff_level_choice", lang, out=out, stride=2 ** lvl), lvl)
            for out, lvl in zip(analysis.outputs, levels(analysis))]


def asff_views(analysis: Analysis, level: int | None, lang: str = "en") -> tuple[Any, np.ndarray]:
    """After a run: the level selector for this analysis (keeping the chosen level when it has one)
    and that level's weights figure."""
    available = levels(analysis)
    level = level if level in available else available[0]
    return gr.Radio(choices=level_choices(analysis, lang), value=level), asff_level_view(analysis, level, lang)


def asff_level_view(analysis: Analysis | None, level: int | None, lang: str = "en") -> Any:
    """The weights figure of one output level; skipped before the first run."""
    if analysis is None or level is None:
        return gr.skip()
    return image(weights_figure(analysis, int(level), lang))


def asff_panel(tab: TabHooks) -> None:
    """Build the panel under the ASFF tab; it redraws after every run of the tab."""

    localised(gr.Markdown, {"value": "panel.asff_intro"})
    level = localised(gr.Radio, {"label": "panel.asff_level"}, choices=[], elem_id="asff-level")
    weights = figure_box("panel.asff_weights", "asff-weights")

    tab.redraw_after_run(asff_views, [level, weights], [level])
    level.input(asff_level_view, [tab.state, level, tab.language], [weights], api_visibility="private")


LESSON = Lesson("asff", asff_figures, asff_panel)
