"""ASFF's lesson: for a chosen output level, the per-cell softmax weights of the three source
levels, their sum, the resized sources and the fused output."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr
import numpy as np

from necklab.graph.steps import Jump
from necklab.graph.topology import Op
from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.words import shown_words
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.viz.asff import levels, weights_figure
from necklab.widgets.common import figure_box, image
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def asff_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure(f"asff-level-{level}", caption("asff_level", lang, level=level),
                         partial(weights_figure, analysis, level, lang)) for level in levels(analysis)]


def asff_intro(analysis: Analysis | None, lang: str = "en") -> str:
    """The panel's introduction, and after a run what its maps are with the weights that ran."""
    intro = t("panel.asff_intro", lang)
    return intro if analysis is None else f"{intro}\n\n{shown_words('panel.asff', analysis.weights, lang)}"


def level_choices(analysis: Analysis, lang: str = "en") -> list[tuple[str, int]]:
    """(label, level) of each output level, for the selector."""
    return [(t("panel.asff_level_choice", lang, out=out, stride=2 ** lvl), lvl)
            for out, lvl in zip(analysis.outputs, levels(analysis))]


@dataclass(frozen=True)
class AsffView:
    level: Any  # the selector
    weights: np.ndarray


def asff_views(session: Session, analysis: Analysis, level: int | None) -> AsffView:
    """After a run: the level selector for this analysis (keeping the chosen level when it has one)
    and that level's weights figure."""
    available = levels(analysis)
    level = level if level in available else available[0]
    return AsffView(level=gr.Radio(choices=level_choices(analysis, session.lang), value=level),
                    weights=asff_level_view(session, analysis, level))


def asff_level_view(session: Session, analysis: Analysis | None, level: int | None) -> Any:
    """The weights figure of one output level; skipped before the first run."""
    if analysis is None or level is None:
        return gr.skip()
    return image(weights_figure(analysis, int(level), session.lang))


def asff_panel(tab: TabHooks) -> None:
    """Build the panel under the ASFF tab; it redraws after every run of the tab."""

    intro = localised(gr.Markdown, {"value": "panel.asff_intro"})
    level = localised(gr.Radio, {"label": "panel.asff_level"}, choices=[], elem_id="asff-level")
    weights = figure_box("panel.asff_weights", "asff-weights")

    tab.redraw_after_run(lambda session, analysis: asff_intro(analysis, session.lang), intro)
    tab.redraw_after_run(asff_views, Shows(AsffView, level=level, weights=weights), [level])
    level.input(event(asff_level_view), [tab.session, tab.state, level], [weights], api_visibility="private")


LESSON = Lesson("asff", asff_figures, asff_panel, jumps=(Jump("fusion", (Op.WEIGHTED_SUM,)),))
