"""Recursive-FPN's lesson panel: the unrolled computation with its parameters, both passes' outputs
side by side, and the gate maps."""
from __future__ import annotations

import gradio as gr
import numpy as np

from necks.analysis import Analysis
from pack.figures import rfp_figures

from .common import drawn, figure_box
from .neck_tab import NeckTab
from .text import localised


def rfp_views(analysis: Analysis, lang: str = "en") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unrolled schematic, the passes side by side and the gates, as images."""
    return drawn(rfp_figures(analysis, lang))


def rfp_panel(tab: NeckTab) -> None:
    """Build the panel under the Recursive-FPN tab; it redraws after every run of the tab."""

    localised(gr.Markdown, {"value": "panel.rfp_intro"})
    unrolled = figure_box("panel.rfp_unrolled", "rfp-unrolled")
    passes = figure_box("panel.rfp_passes", "rfp-passes")
    gates = figure_box("panel.rfp_gates", "rfp-gates")

    tab.redraw_after_run(rfp_views, [unrolled, passes, gates])
