"""Recursive-FPN's lesson panel: the unrolled computation with its parameters, both passes' outputs
side by side, and the gate maps."""
from __future__ import annotations

import gradio as gr
import numpy as np

from necks.analysis import Analysis
from pack.figures import rfp_figures

from .common import drawn, figure_box
from .neck_tab import NeckTab


def rfp_views(analysis: Analysis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The unrolled schematic, the passes side by side and the gates, as images."""
    return drawn(rfp_figures(analysis))


def rfp_panel(tab: NeckTab) -> None:
    """Build the panel under the Recursive-FPN tab; it redraws after every run of the tab."""

    gr.Markdown("### Looking twice: feedback from the FPN into the backbone\nRecursive-FPN runs the backbone and "
                "the FPN, turns the FPN's outputs into feedback with a small ASPP, and adds it through 1×1 convs "
                "after the first block of the backbone's stride-8, 16 and 32 stages. The backbone then runs "
                "**again** on the same picture, the **same** FPN runs again, and a per-cell gate "
                "w = σ(1×1 conv(new)) mixes the passes: w·new + (1 − w)·old.\n\n"
                "Be aware of the initialisation. With the reference's (**feedback weights: reference** above) "
                "the feedback convs and the gate conv start at zero: pass 2 is exactly pass 1 and the gate is "
                "exactly 0.5, so the output is pass 1 — what the feedback does is learned in training, and no "
                "trained weights exist offline. **feedback weights: random** gives those convs small random "
                "weights so the mechanism becomes visible (not what a trained model does). The figures compute "
                "and say which case they show.")
    unrolled = figure_box("Recursive-FPN unrolled, with each part's parameters", "rfp-unrolled")
    passes = figure_box("Pass 1, pass 2 and the fused output at every level", "rfp-passes")
    gates = figure_box("The gate maps", "rfp-gates")

    tab.redraw_after_run(rfp_views, [unrolled, passes, gates])
