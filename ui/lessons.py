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
from viz.nasfpn import cell_figure, cell_rows, cell_table_headers, first_step_of_stage
from viz.spp import formula_figure, formula_headers, formula_rows

from .asff_panel import asff_panel
from .bifpn_panel import bifpn_panel
from .common import drawn, figure_box, image, no_picture, out_of_memory_as_message
from .neck_tab import NeckTab, parse_value
from .rfp_panel import rfp_panel
from .text import localised


def spp_views(analysis: Analysis, lang: str = "en") -> tuple:
    """SPP-net's bins and vectors, and YOLO SPP vs SPPF (the window-rule figure follows its inputs)."""
    bins, vectors, _, sppf = spp_figures(analysis, lang)
    return drawn([bins, vectors, sppf])


PYRAMID_LEVELS = Control("levels", "Pyramid levels", "ints", FORMULA_LEVELS, minimum=1, maximum=16)


def window_rules(a: float, text: str, lang: str = "en") -> tuple:
    """The blog formula vs adaptive pooling for a feature size and typed pyramid levels."""
    ns = parse_value(PYRAMID_LEVELS, text, lang)
    return image(formula_figure(int(a), ns, lang)), formula_rows(int(a), ns, lang)


def panet_views(analysis: Analysis, lang: str = "en") -> tuple:
    """The long path vs PANet's shortcut, and FPN vs PANet outputs (FPN with the same settings)."""
    return drawn(panet_figures(analysis, lang))


def stage_list(analysis: Analysis, lang: str = "en") -> tuple:
    stages = sorted({n.stage for n in analysis.topology.nodes} - {None})
    return gr.Dropdown(choices=[str(s) for s in stages], value=None), cell_rows(analysis, lang)


def stage_start(analysis: Analysis | None, chosen: str | None):
    """The step of the first cell of the chosen stage."""
    if analysis is None or not chosen:
        return gr.skip()
    return first_step_of_stage(analysis, int(chosen))


def cell_view(analysis: Analysis | None, k: float, lang: str = "en"):
    """The merging cell of step k — or, before the first cell, the first cell (its title names it)."""
    if analysis is None:
        return gr.skip()
    order = analysis.topology.order
    cells = [i for i, node in enumerate(order) if "resized" in analysis.trace.extras.get(node, {})]
    shown = next((i for i in cells if i >= int(k)), cells[-1]) if int(k) not in cells else int(k)
    return image(cell_figure(analysis, order[shown], lang))


def aspp_views(analysis: Analysis, cell: tuple[int, int] | None, lang: str = "en") -> tuple:
    """Taps and receptive-field boxes of every branch at a cell, and the effective receptive field
    of each branch and of the fused output there. Without a cell: the centre of the C5 map."""
    cell = aspp_cell(analysis, cell)
    return (*drawn(aspp_figures(analysis, cell, lang)), cell)


@out_of_memory_as_message
def aspp_click(analysis: Analysis | None, evt: gr.SelectData, lang: str = "en") -> tuple:
    """A click on the picture (analysed pixels) → the C5 cell under it → taps and ERF there."""
    if analysis is None:
        raise no_picture(lang)
    x, y = to_original(analysis.picture, *evt.index)
    level = analysis.topology.node(analysis.topology.inputs[0]).level
    return aspp_views(analysis, cell_at(analysis, level, x, y), lang)


def aspp_panel(tab: NeckTab) -> None:
    localised(gr.Markdown, {"value": "panel.aspp_intro"})
    with gr.Row():
        with gr.Column(scale=1, min_width=260):
            picture = localised(gr.Image, {"label": "panel.aspp_click"}, interactive=False, elem_id="aspp-click",
                                format="png")
        with gr.Column(scale=3):
            taps = figure_box("panel.aspp_taps", "aspp-taps")
    erf = figure_box("panel.aspp_erf", "aspp-erf")
    cell = gr.State(None)

    def with_picture(analysis: Analysis, clicked: tuple[int, int] | None, lang: str = "en") -> tuple:
        return (analysis.picture.rgb, *aspp_views(analysis, clicked, lang))

    tab.redraw_after_run(with_picture, [picture, taps, erf, cell], [cell])
    picture.select(aspp_click, [tab.state, tab.language], [taps, erf, cell], api_name="aspp_click")


def spp_panel(tab: NeckTab) -> None:
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

    tab.redraw_after_run(spp_views, [bins, vectors, sppf])
    for trigger in (size.change, levels.submit):
        trigger(window_rules, [size, levels, tab.language], [formula, formula_table], api_visibility="private")
    tab.after_run.append((window_rules, [size, levels, tab.language], [formula, formula_table]))


def fpn_views(analysis: Analysis, lang: str = "en") -> tuple:
    return drawn(fpn_figures(analysis, lang))


def fpn_panel(tab: NeckTab) -> None:
    localised(gr.Markdown, {"value": "panel.fpn_intro"})
    outputs = figure_box("panel.fpn_outputs", "fpn-outputs")
    tab.redraw_after_run(fpn_views, [outputs])


def panet_panel(tab: NeckTab) -> None:
    localised(gr.Markdown, {"value": "panel.panet_intro"})
    path = figure_box("panel.panet_paths", "panet-paths")
    compare = figure_box("panel.panet_compare", "panet-compare")

    tab.redraw_after_run(panet_views, [path, compare])


def nasfpn_panel(tab: NeckTab) -> None:
    localised(gr.Markdown, {"value": "panel.nasfpn_intro"})
    with gr.Row():
        stage = localised(gr.Dropdown, {"label": "panel.nasfpn_stage"}, choices=[], elem_id="nas-fpn-stage")
    cell = figure_box("panel.nasfpn_cell", "nas-fpn-cell")
    cells = localised(gr.Dataframe, {"label": "panel.nasfpn_cells", "headers": cell_table_headers},
                      interactive=False, elem_id="nas-fpn-cells")

    tab.redraw_after_run(stage_list, [stage, cells])
    stage.select(stage_start, [tab.state, stage], [tab.step], api_visibility="private")  # again = jump again
    tab.step.change(cell_view, [tab.state, tab.step, tab.language], [cell], api_visibility="private")
    tab.after_run.append((cell_view, [tab.state, tab.step, tab.language], [cell]))  # and in a new language


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
