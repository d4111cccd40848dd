"""SPP's lesson: SPP-net's bins on the map and on the picture, the vector's length at two picture sizes,
the blog formula vs adaptive pooling, and YOLO SPP vs SPPF (bit-identical, timed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from necklab.graph.steps import Jump
from necklab.graph.topology import Op
from necklab.lab.analysis import Analysis, run_backbone, shared_analysis
from necklab.lab.imaging import rescaled
from necklab.lab.spp_vs_sppf import compare_spp_sppf
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.models.spec import Control
from necklab.viz.spp import bins_figure, formula_figure, formula_headers, formula_rows, spp_sppf_figure, vector_figure
from necklab.widgets.common import figure_box, image
from necklab.widgets.controls import parse_value
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised

# The window-rule example as the app opens it: feature size a and pyramid levels n.
FORMULA_SIZE = 5
FORMULA_LEVELS = (1, 2, 3, 4)


def spp_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """SPP-net's bins and its vector at two sizes (the tab may show YOLO SPP: SPP-net then runs on
    the same cached features), the window-rule example, and YOLO SPP vs SPPF on the picture's C5."""
    picture, device = analysis.picture, analysis.device
    net = analysis if analysis.neck_name == "spp" else shared_analysis(picture, "spp", {}, device)
    half = shared_analysis(rescaled(picture, 0.5), "spp", net.config, device)
    comparison = compare_spp_sppf(run_backbone(picture, device).features["C5"])
    levels = ", ".join(map(str, FORMULA_LEVELS))
    return [LessonFigure("spp-bins", caption("spp_bins", lang), lambda: bins_figure(net, lang=lang)),
            LessonFigure("spp-vectors", caption("spp_vectors", lang), lambda: vector_figure([net, half], lang)),
            LessonFigure("spp-formula", caption("spp_formula", lang, size=FORMULA_SIZE, levels=levels),
                         lambda: formula_figure(FORMULA_SIZE, FORMULA_LEVELS, lang)),
            LessonFigure("spp-sppf", caption("spp_sppf", lang), lambda: spp_sppf_figure(comparison, lang))]


@dataclass(frozen=True)
class SppView:
    bins: Any
    vectors: Any
    sppf: Any


@dataclass(frozen=True)
class WindowRules:
    figure: Any
    table: list[list]


def spp_views(session: Session, analysis: Analysis) -> SppView:
    """SPP-net's bins and vectors, and YOLO SPP vs SPPF (the window-rule figure follows its inputs)."""
    bins, vectors, _, sppf = spp_figures(analysis, session.lang)
    return SppView(bins=image(bins.make()), vectors=image(vectors.make()), sppf=image(sppf.make()))


PYRAMID_LEVELS = Control("levels", "pyramid_levels", "ints", FORMULA_LEVELS, minimum=1, maximum=16)


def window_rules(session: Session, a: float, text: str) -> WindowRules:
    """The blog formula vs adaptive pooling for a feature size and typed pyramid levels."""
    lang = session.lang
    ns = parse_value(PYRAMID_LEVELS, text, lang)
    return WindowRules(figure=image(formula_figure(int(a), ns, lang)), table=formula_rows(int(a), ns, lang))


def spp_panel(tab: TabHooks) -> None:
    localised(gr.Markdown, {"value": "panel.spp_intro"})
    bins = figure_box("panel.spp_bins", "spp-bins")
    vectors = figure_box("panel.spp_vectors", "spp-vectors")
    localised(gr.Markdown, {"value": "panel.spp_formula_intro"})
    with gr.Row():
        size = localised(gr.Slider, {"label": "panel.spp_size"}, minimum=1, maximum=40, value=FORMULA_SIZE, step=1,
                         elem_id="spp-size")
        levels = localised(gr.Textbox, {"label": "panel.spp_levels"}, value=", ".join(map(str, FORMULA_LEVELS)),
                           elem_id="spp-levels")
    formula = figure_box("panel.spp_formula", "spp-formula")
    formula_table = localised(gr.Dataframe, {"label": "panel.spp_formula_table", "headers": formula_headers},
                              interactive=False, wrap=True, elem_id="spp-formula-table")
    localised(gr.Markdown, {"value": "panel.sppf_intro"})
    sppf = figure_box("panel.sppf", "spp-sppf")

    tab.redraw_after_run(spp_views, Shows(SppView, bins=bins, vectors=vectors, sppf=sppf), shared=True)
    rules = Shows(WindowRules, figure=formula, table=formula_table)
    inputs = [tab.session, size, levels]
    for trigger in (size.change, levels.submit):
        trigger(event(window_rules, rules), inputs, rules.outputs, api_visibility="private")
    tab.after_run.append((event(window_rules, rules), inputs, rules.outputs))


LESSON = Lesson("spp", spp_figures, spp_panel,
                 jumps=(Jump("pooling", (Op.ADAPTIVE_MAX_POOL, Op.ADAPTIVE_AVG_POOL, Op.MAX_POOL)),))
