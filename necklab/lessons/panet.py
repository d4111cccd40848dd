"""PANet's lesson: the long path vs the bottom-up shortcut with layer counts, FPN vs PANet outputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from necklab.graph.steps import Arrival, Jump
from necklab.graph.topology import Op
from necklab.lab.analysis import Analysis, backbone_on, shared_analysis
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.viz.panet import outputs_figure, path_count, path_figure
from necklab.widgets.common import figure_box, image
from necklab.widgets.events import Shows
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def panet_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """The long path vs PANet's shortcut, and FPN vs PANet outputs (FPN with the same settings)."""
    levels = sorted(n.level for n in analysis.topology.nodes if n.is_input and n.level is not None)
    counts = path_count(analysis, backbone_on(analysis.device).conv_layers_between(levels[0], levels[-1]))
    fpn = shared_analysis(analysis.picture, "fpn", analysis.config, analysis.device)
    return [LessonFigure("panet-paths", caption("panet_paths", lang), lambda: path_figure(analysis, counts, lang)),
            LessonFigure("panet-compare", caption("panet_compare", lang),
                         lambda: outputs_figure([fpn, analysis], ["FPN", "PANet"], lang))]


@dataclass(frozen=True)
class PanetView:
    paths: Any
    compare: Any


def panet_views(session: Session, analysis: Analysis) -> PanetView:
    """The long path vs PANet's shortcut, and FPN vs PANet outputs (FPN with the same settings)."""
    paths, compare = panet_figures(analysis, session.lang)
    return PanetView(paths=image(paths.make()), compare=image(compare.make()))


def panet_panel(tab: TabHooks) -> None:
    localised(gr.Markdown, {"value": "panel.panet_intro"})
    path = figure_box("panel.panet_paths", "panet-paths")
    compare = figure_box("panel.panet_compare", "panet-compare")

    tab.redraw_after_run(panet_views, Shows(PanetView, paths=path, compare=compare))


LESSON = Lesson("pafpn", panet_figures, panet_panel,
                 jumps=(Jump("top_down", (Op.ADD,), Arrival.TOP_DOWN), Jump("bottom_up", (Op.ADD,), Arrival.BOTTOM_UP)))
