"""BiFPN's lesson: the fusion weights on a cell's graph and in a table, and sliders that set one
node's raw weights — on a copy of the neck kept per browser session — so a learner sees the fused
map change. The handlers are module-level functions, called directly by the tests."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import gradio as gr

from necklab.i18n import t
from necklab.lab.analysis import Analysis, neck_on, rerun
from necklab.lessons.base import Lesson, LessonFigure, caption, file_safe
from necklab.models.necks.bifpn import FUSION_EPS, with_edge_weights
from necklab.viz.bifpn import cells, fused_figure, fusion_graph_figure, fusion_nodes, weight_headers, weights_rows
from necklab.widgets.common import figure_box, image, no_picture
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def bifpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """The first cell's weighted graph and what each of its fusion nodes does (cells repeat)."""
    cell = cells(analysis)[0]
    return [LessonFigure(f"bifpn-cell-{cell}", caption("bifpn_graph", lang, cell=cell),
                         lambda: fusion_graph_figure(analysis, cell, lang))] + [
        LessonFigure(f"bifpn-fused-{file_safe(node)}", caption("bifpn_fused", lang, node=node),
                     lambda node=node: fused_figure(analysis, node, lang)) for node in fusion_nodes(analysis, cell)]


MAX_INPUTS = 3  # a BiFPN node fuses two or three inputs


Edits = dict[str, list[float]]  # node id → raw weights a learner set


def edited(analysis: Analysis, edits: Mapping[str, Sequence[float]]) -> Analysis:
    """The analysis rerun with a copy of its neck carrying the edited raw weights; without edits,
    the analysis itself."""
    if not edits:
        return analysis
    neck = neck_on(analysis.neck_name, analysis.config, analysis.device, analysis.seed)
    return rerun(analysis, with_edge_weights(neck, edits))


def edits_text(edits: Mapping[str, Sequence[float]], lang: str = "en") -> str:
    if not edits:
        return t("panel.bifpn_module_weights", lang)
    listed = " · ".join(f"`{node}` raw {', '.join(f'{w:.2f}' for w in values)}" for node, values in edits.items())
    return t("panel.bifpn_edited", lang, listed=listed)


def sliders(analysis: Analysis, node_id: str, lang: str = "en") -> list:
    """The raw-weight sliders set to a node's weights, one per input; the rest hidden."""
    node = analysis.topology.node(node_id)
    raw = analysis.trace.extras[node_id]["raw_weights"].tolist()
    return [gr.Slider(value=raw[i], label=t("panel.bifpn_raw_of", lang, i=i + 1, source=node.inputs[i].source),
                      visible=True)
            if i < len(raw) else gr.Slider(visible=False) for i in range(MAX_INPUTS)]


def _node_in(analysis: Analysis, cell: int, node_id: str | None) -> str:
    """`node_id` if it belongs to `cell`, else the cell's first fusion node."""
    nodes = fusion_nodes(analysis, cell)
    return node_id if node_id in nodes else nodes[0]


def panel_views(analysis: Analysis, edits: Edits | None, cell: str | None, node_id: str | None,
                lang: str = "en") -> tuple:
    """After the tab's run: the edits that still name a node applied, and every view of the panel —
    cell choice, graph, table, node choice, sliders, fused figure, edits text, edits, shown analysis."""
    edits = {n: w for n, w in (edits or {}).items() if n in fusion_nodes(analysis)}
    shown = edited(analysis, edits)
    k = int(cell) if cell and int(cell) in cells(shown) else 1
    node_id = _node_in(shown, k, node_id)
    return (gr.Radio(choices=[str(c) for c in cells(shown)], value=str(k)), image(fusion_graph_figure(shown, k, lang)),
            weights_rows(shown), gr.Dropdown(choices=fusion_nodes(shown, k), value=node_id),
            *sliders(shown, node_id, lang), image(fused_figure(shown, node_id, lang)), edits_text(edits, lang), edits,
            shown)


def cell_view(shown: Analysis | None, cell: str, lang: str = "en") -> tuple:
    """A cell chosen: its graph, its nodes to choose from (the first chosen), sliders, fused figure."""
    if shown is None:
        raise no_picture(lang)
    k = int(cell)
    node_id = _node_in(shown, k, None)
    return (image(fusion_graph_figure(shown, k, lang)), gr.Dropdown(choices=fusion_nodes(shown, k), value=node_id),
            *sliders(shown, node_id, lang), image(fused_figure(shown, node_id, lang)))


def node_view(shown: Analysis | None, node_id: str, lang: str = "en") -> tuple:
    """A node chosen: its sliders and its fused figure."""
    if shown is None:
        raise no_picture(lang)
    return (*sliders(shown, node_id, lang), image(fused_figure(shown, node_id, lang)))


def apply_weights(analysis: Analysis | None, edits: Edits | None, cell: str, node_id: str, *raw: float,
                  lang: str = "en") -> tuple:
    """Set the chosen node's raw weights (one slider per input) on the session's copy and rerun:
    graph, table, fused figure, edits text, edits, shown analysis."""
    if analysis is None:
        raise no_picture(lang)
    inputs = len(analysis.topology.node(node_id).inputs)
    edits = {**(edits or {}), node_id: [float(w) for w in raw[:inputs]]}
    shown = edited(analysis, edits)
    return (image(fusion_graph_figure(shown, int(cell), lang)), weights_rows(shown),
            image(fused_figure(shown, node_id, lang)), edits_text(edits, lang), edits, shown)


def apply_event(*values: object) -> tuple:
    """`apply_weights` for the button, whose last input is the language (after the sliders)."""
    return apply_weights(*values[:-1], lang=str(values[-1]))


def reset_weights(analysis: Analysis | None, cell: str, node_id: str, lang: str = "en") -> tuple:
    """Back to the module's weights: graph, table, sliders, fused figure, edits text, no edits,
    and the tab's own analysis."""
    if analysis is None:
        raise no_picture(lang)
    return (image(fusion_graph_figure(analysis, int(cell), lang)), weights_rows(analysis),
            *sliders(analysis, node_id, lang), image(fused_figure(analysis, node_id, lang)), edits_text({}, lang), {},
            analysis)


def bifpn_panel(tab: TabHooks) -> None:
    """Build the BiFPN lesson inside its tab and wire it to the tab's runs."""
    localised(gr.Markdown, {"value": ("panel.bifpn_intro", dict(eps=f"{FUSION_EPS:g}"))})
    cell = localised(gr.Radio, {"label": "panel.bifpn_cell"}, choices=["1", "2", "3"], value="1", elem_id="bifpn-cell")
    graph = figure_box("panel.bifpn_graph", "bifpn-graph")
    table = localised(gr.Dataframe, {"label": "panel.bifpn_weights", "headers": weight_headers}, interactive=False,
                      wrap=True, elem_id="bifpn-weights")
    localised(gr.Markdown, {"value": "panel.bifpn_edit"})
    with gr.Row():
        node = localised(gr.Dropdown, {"label": "panel.bifpn_node"}, choices=[], elem_id="bifpn-node", scale=1)
        weights = [localised(gr.Slider, {"label": ("panel.bifpn_raw", {"i": i + 1})}, minimum=0, maximum=2, value=1,
                             step=0.05, elem_id=f"bifpn-w{i}", scale=2) for i in range(MAX_INPUTS)]
    with gr.Row():
        apply = localised(gr.Button, {"value": "panel.bifpn_apply"}, variant="primary", elem_id="bifpn-apply", scale=0,
                          min_width=160)
        reset = localised(gr.Button, {"value": "panel.bifpn_reset"}, elem_id="bifpn-reset", scale=0, min_width=160)
        status = localised(gr.Markdown, {"value": "panel.bifpn_module_weights"}, elem_id="bifpn-edits")
    fused = figure_box("panel.bifpn_fused", "bifpn-fused")
    edits = gr.State({})
    shown = gr.State(None)  # the analysis on screen: the tab's, or rerun with this session's edits

    tab.redraw_after_run(panel_views, [cell, graph, table, node, *weights, fused, status, edits, shown],
                     [edits, cell, node])
    cell.input(cell_view, [shown, cell, tab.language], [graph, node, *weights, fused], api_visibility="private")
    node.input(node_view, [shown, node, tab.language], [*weights, fused], api_visibility="private")
    apply.click(apply_event, [tab.state, edits, cell, node, *weights, tab.language],
                [graph, table, fused, status, edits, shown], api_visibility="private")
    reset.click(reset_weights, [tab.state, cell, node, tab.language], [graph, table, *weights, fused, status, edits, shown],
                api_visibility="private")


LESSON = Lesson("bifpn", bifpn_figures, bifpn_panel)
