"""Lesson panels: what is special to a neck, added under its tab's common step-through.

`PANELS[tab title](neck_tab)` builds the panel inside the tab and wires it to the tab's
events: `neck_tab.redraw_after_run` redraws after the neck (re)runs, `neck_tab.step` follows the
steps. Larger panels live in their own modules (bifpn_panel, asff_panel, rfp_panel).
Tabs without an entry show only the common graph, step-through and shapes.
"""
from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from necks.analysis import Analysis
from necks.erf import cell_at
from necks.registry import Control
from pack.figures import (FORMULA_LEVELS, FORMULA_SIZE, aspp_cell, aspp_figures, fpn_figures,
                          panet_figures, spp_figures)
from viz.maps import to_original
from viz.nasfpn import CELL_TABLE_HEADERS, cell_figure, cell_rows, first_step_of_stage
from viz.spp import FORMULA_HEADERS, formula_figure, formula_rows

from .asff_panel import asff_panel
from .bifpn_panel import bifpn_panel
from .common import NO_PICTURE, drawn, figure_box, image, out_of_memory_as_message
from .neck_tab import NeckTab, parse_value
from .rfp_panel import rfp_panel


def spp_views(analysis: Analysis) -> tuple:
    """SPP-net's bins and vectors, and YOLO SPP vs SPPF (the window-rule figure follows its inputs)."""
    bins, vectors, _, sppf = spp_figures(analysis)
    return drawn([bins, vectors, sppf])


PYRAMID_LEVELS = Control("levels", "Pyramid levels", "ints", FORMULA_LEVELS, minimum=1, maximum=16)


def window_rules(a: float, text: str) -> tuple:
    """The blog formula vs adaptive pooling for a feature size and typed pyramid levels."""
    ns = parse_value(PYRAMID_LEVELS, text)
    return image(formula_figure(int(a), ns)), formula_rows(int(a), ns)


def panet_views(analysis: Analysis) -> tuple:
    """The long path vs PANet's shortcut, and FPN vs PANet outputs (FPN with the same settings)."""
    return drawn(panet_figures(analysis))


def stage_list(analysis: Analysis) -> tuple:
    stages = sorted({n.stage for n in analysis.topology.nodes} - {None})
    return gr.Dropdown(choices=[str(s) for s in stages], value=None), cell_rows(analysis)


def stage_start(analysis: Analysis | None, chosen: str | None):
    """The step of the first cell of the chosen stage."""
    if analysis is None or not chosen:
        return gr.skip()
    return first_step_of_stage(analysis, int(chosen))


def cell_view(analysis: Analysis | None, k: float):
    """The merging cell of step k — or, before the first cell, the first cell (its title names it)."""
    if analysis is None:
        return gr.skip()
    order = analysis.topology.order
    cells = [i for i, node in enumerate(order) if "resized" in analysis.trace.extras.get(node, {})]
    shown = next((i for i in cells if i >= int(k)), cells[-1]) if int(k) not in cells else int(k)
    return image(cell_figure(analysis, order[shown]))


def aspp_views(analysis: Analysis, cell: tuple[int, int] | None) -> tuple:
    """Taps and receptive-field boxes of every branch at a cell, and the effective receptive field
    of each branch and of the fused output there. Without a cell: the centre of the C5 map."""
    cell = aspp_cell(analysis, cell)
    return (*drawn(aspp_figures(analysis, cell)), cell)


@out_of_memory_as_message
def aspp_click(analysis: Analysis | None, evt: gr.SelectData) -> tuple:
    """A click on the picture (analysed pixels) → the C5 cell under it → taps and ERF there."""
    if analysis is None:
        raise gr.Error(NO_PICTURE)
    x, y = to_original(analysis.picture, *evt.index)
    level = analysis.topology.node(analysis.topology.inputs[0]).level
    return aspp_views(analysis, cell_at(analysis, level, x, y))


def aspp_panel(tab: NeckTab) -> None:
    gr.Markdown("### Dilation and receptive fields\nClick a point of the picture: each branch samples C5 with "
                "a 3×3 kernel whose taps are `rate` cells apart. Taps that land outside the map see only "
                "padding — when all eight outer taps do, the branch degenerates to a 1×1 conv (DeepLabv3's "
                "point). Below, the effective receptive field: how strongly each pixel moves that output.")
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            picture = gr.Image(label="Click a point (C5 cell under it)", interactive=False, elem_id="aspp-click",
                               format="png")
        with gr.Column(scale=3):
            taps = figure_box("Each branch's taps and theoretical receptive field at the clicked cell",
                              "aspp-taps")
    erf = figure_box("Effective receptive field of each branch and of the output", "aspp-erf")
    cell = gr.State(None)

    def with_picture(analysis: Analysis, clicked: tuple[int, int] | None) -> tuple:
        return (analysis.picture.rgb, *aspp_views(analysis, clicked))

    tab.redraw_after_run(with_picture, [picture, taps, erf, cell], [cell])
    picture.select(aspp_click, [tab.state], [taps, erf, cell], api_name="aspp_click")


def spp_panel(tab: NeckTab) -> None:
    gr.Markdown("### SPP-net: a fixed-length vector from any size\nEach pyramid level cuts the C5 map into "
                "n×n bins and keeps one number per bin and channel, so the vector's length depends only on "
                "the channels and the levels — shown here for the picture at two sizes.")
    bins = figure_box("SPP-net bins on the map and on the picture, with each bin's winner", "spp-bins")
    vectors = figure_box("Pooled vectors at two picture sizes", "spp-vectors")
    gr.Markdown("### When the pooling window is computed by hand\nA common blog formula (window = stride = "
                "⌈a/n⌉, padding ⌊(window·n − a + 1)/2⌋) breaks for some feature sizes a; adaptive pooling "
                "always gives n×n bins. Pick a size and see what PyTorch says.")
    with gr.Row():
        size = gr.Slider(1, 40, value=FORMULA_SIZE, step=1, label="feature map size a (cells)", elem_id="spp-size")
        levels = gr.Textbox(", ".join(map(str, FORMULA_LEVELS)), label="pyramid levels n (comma-separated)", elem_id="spp-levels")
    formula = figure_box("Blog formula vs adaptive pooling windows", "spp-formula")
    formula_table = gr.Dataframe(headers=FORMULA_HEADERS, interactive=False, wrap=True, elem_id="spp-formula-table",
                                 label="Windows, strides, paddings and bins per level")
    gr.Markdown("### YOLO SPP vs SPPF\nSPPF chains one 5×5 max-pool three times; with shared weights it "
                "computes exactly what SPP's parallel 5, 9 and 13 pools do, with less work.")
    sppf = figure_box("SPP's pooled maps vs SPPF's chained pools", "spp-sppf")

    tab.redraw_after_run(spp_views, [bins, vectors, sppf])
    for trigger in (size.change, levels.submit):
        trigger(window_rules, [size, levels], [formula, formula_table], api_visibility="private")
    tab.after_run.append((window_rules, [size, levels], [formula, formula_table]))


def fpn_views(analysis: Analysis) -> tuple:
    return drawn(fpn_figures(analysis))


def fpn_panel(tab: NeckTab) -> None:
    gr.Markdown("### The baseline: one top-down pathway\nEvery other pyramid neck here starts from this one. "
                "PANet adds a bottom-up path after it, NAS-FPN replaces its fixed wiring with searched "
                "merging cells, BiFPN repeats a weighted two-way version of it, and Recursive-FPN feeds "
                "its outputs back into the backbone and runs it twice. Each coarse level is upsampled "
                "(nearest) and added to the 1×1 lateral of the next finer level, then a 3×3 conv smooths it.")
    outputs = figure_box("FPN outputs on the picture", "fpn-outputs")
    tab.redraw_after_run(fpn_views, [outputs])


def panet_panel(tab: NeckTab) -> None:
    gr.Markdown("### PANet's point: a short path from fine features to the top\nThe finest level reaches "
                "the top output through a handful of layers on the bottom-up path, instead of through the "
                "whole backbone. Stepping above walks the top-down path first (T nodes), then the "
                "bottom-up path (N nodes).")
    path = figure_box("Long path vs PANet shortcut, with layer counts", "panet-paths")
    compare = figure_box("FPN vs PANet outputs on the same picture", "panet-compare")

    tab.redraw_after_run(panet_views, [path, compare])


def nasfpn_panel(tab: NeckTab) -> None:
    gr.Markdown("### Merging cells\nEach stage runs the same nine cells that the architecture search "
                "found; the stages repeat. A cell resizes its two inputs to its output level (nearest "
                "upsampling or max-pooling) and sums them — or, in a global-pooling (GP) cell, adds to "
                "input B input A scaled by a per-channel attention computed from B's global average.")
    with gr.Row():
        stage = gr.Dropdown([], label="Jump to the first cell of stage", elem_id="nas-fpn-stage")
    cell = figure_box("The current cell: inputs resized, attention, output", "nas-fpn-cell")
    cells = gr.Dataframe(headers=CELL_TABLE_HEADERS, interactive=False, elem_id="nas-fpn-cells",
                         label="One stage's merging cells in execution order (every stage repeats them)")

    tab.redraw_after_run(stage_list, [stage, cells])
    stage.select(stage_start, [tab.state, stage], [tab.step], api_visibility="private")  # again = jump again
    tab.step.change(cell_view, [tab.state, tab.step], [cell], api_visibility="private")


PANELS: dict[str, Callable[[NeckTab], None]] = {
    "SPP": spp_panel,
    "FPN": fpn_panel,
    "ASPP": aspp_panel,
    "PANet": panet_panel,
    "NAS-FPN": nasfpn_panel,
    "BiFPN": bifpn_panel,
    "ASFF": asff_panel,
    "Recursive-FPN": rfp_panel,
}
