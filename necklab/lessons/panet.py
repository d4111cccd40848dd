"""PANet's lesson: the long path vs the bottom-up shortcut with layer counts, FPN vs PANet outputs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from necklab.graph.steps import Arrival, Jump
from necklab.graph.topology import Op
from necklab.i18n import t
from necklab.lab.analysis import Analysis, backbone_on, shared_analysis
from necklab.lessons.base import Lesson, LessonFigure, caption
from necklab.models.registry import NECKS
from necklab.models.weights import read_manifest
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
    asked = analysis.recipe.weights if analysis.recipe is not None else analysis.weights.shown
    fpn = shared_analysis(analysis.picture, "fpn", analysis.config, analysis.device, weights=asked)
    return [LessonFigure("panet-paths", caption("panet_paths", lang), lambda: path_figure(analysis, counts, lang)),
            LessonFigure("panet-compare", caption("panet_compare", lang),
                         lambda: outputs_figure([fpn, analysis], ["FPN", "PANet"], lang))]


EQUAL_WITHIN = 0.5  # AP points: closer than this, PANet and FPN "score about the same"
SIZES = (("AP_S", "s"), ("AP_M", "m"), ("AP_L", "l"))


def measured(lang: str = "en") -> str:
    """PANet's held-out AP (and AP_S, AP_M, AP_L) beside FPN's, from the trained weights' manifest,
    worded by the numbers: higher, lower, or about equal (within EQUAL_WITHIN AP); without trained
    weights for either, which one lacks them."""
    entries = read_manifest()
    metrics = {name: entries.get(name, {}).get("metrics") or {} for name in ("pafpn", "fpn")}
    missing = [NECKS[name].title for name, m in metrics.items() if "AP" not in m]
    if missing:
        return t("panel.panet_measured_none", lang, missing=t("panel.and", lang).join(missing))
    panet, fpn = metrics["pafpn"], metrics["fpn"]
    gap = panet["AP"] - fpn["AP"]
    verdict = "equal" if abs(gap) < EQUAL_WITHIN else "higher" if gap > 0 else "lower"

    def number(m: dict, key: str) -> str:
        return f"{m[key]:.1f}" if key in m else "–"

    return t(f"panel.panet_measured_{verdict}", lang, panet=number(panet, "AP"), fpn=number(fpn, "AP"),
             **{f"panet_{s}": number(panet, k) for k, s in SIZES}, **{f"fpn_{s}": number(fpn, k) for k, s in SIZES})


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
    localised(gr.Markdown, {"value": measured})
    path = figure_box("panel.panet_paths", "panet-paths")
    compare = figure_box("panel.panet_compare", "panet-compare")

    tab.redraw_after_run(panet_views, Shows(PanetView, paths=path, compare=compare), shared=True)


LESSON = Lesson("pafpn", panet_figures, panet_panel,
                 jumps=(Jump("top_down", (Op.ADD,), Arrival.TOP_DOWN), Jump("bottom_up", (Op.ADD,), Arrival.BOTTOM_UP)))
