"""BiFPN's lesson: the fusion weights on a cell's graph and in a table, and sliders that set one
node's raw weights — on a copy of the neck kept per browser session — so a learner sees the fused
map change. The handlers are module-level functions, called directly by the tests."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import gradio as gr
import numpy as np

from necklab.graph.steps import Jump
from necklab.graph.topology import Op
from necklab.i18n import t
from necklab.lab.analysis import Analysis, neck_of, rerun
from necklab.lessons.base import Lesson, LessonFigure, caption, file_safe
from necklab.models.necks.bifpn import FUSION_EPS, BiFPN, with_edge_weights
from necklab.viz.bifpn import cells, fused_figure, fusion_graph_figure, fusion_nodes, weight_headers, weights_rows
from necklab.widgets.common import figure_box, image, no_picture
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


def bifpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """The first cell's weighted graph and what each of its fusion nodes does (cells repeat)."""
    cell = cells(analysis)[0]
    return [LessonFigure(f"bifpn-cell-{cell}", caption("bifpn_graph", lang, cell=cell),
                         partial(fusion_graph_figure, analysis, cell, lang, slide=True))] + [
        LessonFigure(f"bifpn-fused-{file_safe(node)}", caption("bifpn_fused", lang, node=node),
                     partial(fused_figure, analysis, node, lang)) for node in fusion_nodes(analysis, cell)]


MAX_INPUTS = 3  # a BiFPN node fuses two or three inputs


Edits = dict[str, list[float]]  # node id → raw weights a learner set


def edited(analysis: Analysis, edits: Mapping[str, Sequence[float]]) -> Analysis:
    """The analysis rerun with a copy of its neck carrying the edited raw weights; without edits,
    the analysis itself."""
    if not edits:
        return analysis
    neck = neck_of(analysis)
    if not isinstance(neck, BiFPN):
        raise TypeError(f"{analysis.neck_name} has no fusion weights to edit")
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


@dataclass(frozen=True)
class NodeShown:
    """A fusion node chosen: its raw-weight sliders and its fused figure."""

    weights: list  # slider updates, one per input (MAX_INPUTS)
    fused: np.ndarray


@dataclass(frozen=True)
class CellShown(NodeShown):
    """A cell chosen: its weighted graph and its nodes to choose from (the first chosen)."""

    graph: np.ndarray
    node: Any


@dataclass(frozen=True)
class Edited:
    """The weights applied: the graph, the weights table, the fused figure, the edits (as text and
    as the session's state) and the analysis on screen (the tab's, or rerun with the edits)."""

    graph: np.ndarray
    table: list[list]
    fused: np.ndarray
    status: str
    edits: Edits
    shown: Analysis


@dataclass(frozen=True)
class Reset(Edited):
    """Back to the module's weights: also the sliders."""

    weights: list


@dataclass(frozen=True)
class PanelView(Reset):
    """After the tab's run: also the cell choice and the node choice."""

    cell: Any
    node: Any


def panel_views(session: Session, analysis: Analysis, edits: Edits | None, cell: str | None,
                node_id: str | None) -> PanelView:
    """After the tab's run: the edits that still name a node applied, and every view of the panel."""
    lang = session.lang
    edits = {n: w for n, w in (edits or {}).items() if n in fusion_nodes(analysis)}
    shown = edited(analysis, edits)
    k = int(cell) if cell and int(cell) in cells(shown) else 1
    node_id = _node_in(shown, k, node_id)
    return PanelView(graph=image(fusion_graph_figure(shown, k, lang)), table=weights_rows(shown),
                     fused=image(fused_figure(shown, node_id, lang)), status=edits_text(edits, lang), edits=edits,
                     shown=shown, weights=sliders(shown, node_id, lang),
                     cell=gr.Radio(choices=[str(c) for c in cells(shown)], value=str(k)),
                     node=gr.Dropdown(choices=fusion_nodes(shown, k), value=node_id))


def cell_view(session: Session, shown: Analysis | None, cell: str) -> CellShown:
    """A cell chosen: its graph, its nodes to choose from (the first chosen), sliders, fused figure."""
    lang = session.lang
    if shown is None:
        raise no_picture(lang)
    k = int(cell)
    node_id = _node_in(shown, k, None)
    return CellShown(graph=image(fusion_graph_figure(shown, k, lang)),
                     node=gr.Dropdown(choices=fusion_nodes(shown, k), value=node_id),
                     weights=sliders(shown, node_id, lang), fused=image(fused_figure(shown, node_id, lang)))


def node_view(session: Session, shown: Analysis | None, node_id: str) -> NodeShown:
    """A node chosen: its sliders and its fused figure."""
    lang = session.lang
    if shown is None:
        raise no_picture(lang)
    return NodeShown(weights=sliders(shown, node_id, lang), fused=image(fused_figure(shown, node_id, lang)))


def apply_weights(session: Session, analysis: Analysis | None, edits: Edits | None, cell: str, node_id: str,
                  *raw: float) -> Edited:
    """Set the chosen node's raw weights (one slider per input) on the session's copy and rerun."""
    lang = session.lang
    if analysis is None:
        raise no_picture(lang)
    inputs = len(analysis.topology.node(node_id).inputs)
    edits = {**(edits or {}), node_id: [float(w) for w in raw[:inputs]]}
    shown = edited(analysis, edits)
    return Edited(graph=image(fusion_graph_figure(shown, int(cell), lang)), table=weights_rows(shown),
                  fused=image(fused_figure(shown, node_id, lang)), status=edits_text(edits, lang), edits=edits,
                  shown=shown)


def reset_weights(session: Session, analysis: Analysis | None, cell: str, node_id: str) -> Reset:
    """Back to the module's weights, and to the tab's own analysis."""
    lang = session.lang
    if analysis is None:
        raise no_picture(lang)
    return Reset(graph=image(fusion_graph_figure(analysis, int(cell), lang)), table=weights_rows(analysis),
                 fused=image(fused_figure(analysis, node_id, lang)), status=edits_text({}, lang), edits={},
                 shown=analysis, weights=sliders(analysis, node_id, lang))


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

    edited_shows = dict(graph=graph, table=table, fused=fused, status=status, edits=edits, shown=shown)
    tab.redraw_after_run(panel_views, Shows(PanelView, cell=cell, node=node, weights=weights, **edited_shows),
                         [edits, cell, node])
    chosen_cell = Shows(CellShown, graph=graph, node=node, weights=weights, fused=fused)
    cell.input(event(cell_view, chosen_cell), [tab.session, shown, cell], chosen_cell.outputs,
               api_visibility="private")
    chosen_node = Shows(NodeShown, weights=weights, fused=fused)
    node.input(event(node_view, chosen_node), [tab.session, shown, node], chosen_node.outputs,
               api_visibility="private")
    applied = Shows(Edited, **edited_shows)
    apply.click(event(apply_weights, applied), [tab.session, tab.state, edits, cell, node, *weights], applied.outputs,
                api_visibility="private")
    back = Shows(Reset, weights=weights, **edited_shows)
    reset.click(event(reset_weights, back), [tab.session, tab.state, cell, node], back.outputs,
                api_visibility="private")


LESSON = Lesson("bifpn", bifpn_figures, bifpn_panel, jumps=(Jump("fused", (Op.WEIGHTED_SUM,)),))
