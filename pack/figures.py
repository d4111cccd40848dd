"""Every figure of a neck's lesson, listed once: the graph, one figure per step and the figures of
the neck tab's lesson panel. The app's panels draw from the same functions the pack writes, so a
pack shows what the tab shows.

Figures are listed with a `make` function rather than drawn at once: a pack draws, saves and drops
them one at a time (a NAS-FPN pack holds dozens), and reports progress as it goes.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure

from necks.analysis import Analysis, analyse, backbone_on, run_backbone
from necks.erf import effective_receptive_fields
from necks.imaging import rescaled
from necks.registry import NECKS
from necks.yolo_spp import compare_spp_sppf
from viz.asff import levels as asff_levels, weights_figure
from viz.aspp import branches, erf_figure, taps_figure
from viz.bifpn import cells as bifpn_cells, fused_figure, fusion_graph_figure, fusion_nodes
from viz.graph import GraphPicture
from viz.nasfpn import cell_figure
from viz.panet import outputs_figure, path_count, path_figure
from viz.rfp import gates_figure, passes_figure, unrolled_figure
from viz.spp import bins_figure, formula_figure, spp_sppf_figure, vector_figure
from viz.step import step_figure

# The SPP lesson's window-rule example as the app opens it: feature size a and pyramid levels n.
FORMULA_SIZE = 5
FORMULA_LEVELS = (1, 2, 3, 4)

# Captions, in one place for translation.
TEXT = {
    "graph": "The graph of {neck}: every node with its shape, levels as rows, execution order left to right",
    "step": "Step {k}: {node}",
    "spp_bins": "SPP-net bins on the map and on the picture, with each bin's winner",
    "spp_vectors": "Pooled vectors at two picture sizes",
    "spp_formula": "Blog formula vs adaptive pooling windows (feature size {size}, levels {levels})",
    "spp_sppf": "SPP's pooled maps vs SPPF's chained pools",
    "fpn_outputs": "FPN outputs on the picture",
    "panet_paths": "Long path vs PANet shortcut, with layer counts",
    "panet_compare": "FPN vs PANet outputs on the same picture",
    "aspp_taps": "Each branch's taps and theoretical receptive field at C5 cell {cell}",
    "aspp_erf": "Effective receptive field of each branch and of the output at C5 cell {cell}",
    "nasfpn_cell": "Merging cell {node}: inputs resized, attention, output",
    "bifpn_graph": "BiFPN cell {cell}: each fusion edge as wide as its weight",
    "bifpn_fused": "Node {node}: its inputs, their weighted sum and its output",
    "asff_level": "ASFF fusion into level {level}: weights, their sum, resized sources, fused output",
    "rfp_unrolled": "Recursive-FPN unrolled, with each part's parameters",
    "rfp_passes": "Pass 1, pass 2 and the fused output at every level",
    "rfp_gates": "The gate maps",
}


@dataclass(frozen=True)
class LessonFigure:
    """One figure of a lesson: a file-safe name, a caption, and how to draw it. `node` names the
    step a step figure shows (its narration goes with it in the pack)."""

    name: str
    caption: str
    make: Callable[[], Figure]
    node: str | None = None


def first_stage(analysis: Analysis) -> int | None:
    """The first of the stages a neck repeats (NAS-FPN stages, BiFPN cells, Recursive-FPN passes);
    None for necks without repeats."""
    stages = sorted({n.stage for n in analysis.topology.nodes} - {None})
    return stages[0] if len(stages) > 1 else None


def step_nodes(analysis: Analysis) -> list[str]:
    """The steps a pack draws: all of them, or — where a neck repeats stages — the nodes before the
    stages and those of the first stage (the others repeat it)."""
    stage = first_stage(analysis)
    return [n.id for n in analysis.topology.nodes if stage is None or n.stage in (None, stage)]


def file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def graph_figure(analysis: Analysis) -> Figure:
    """The whole graph, every node labelled with its shape, nothing highlighted."""
    shapes = {node: tuple(t.shape) for node, t in analysis.trace.tensors.items()}
    return GraphPicture(analysis.topology, shapes, stepping=False).figure(None)


# --- lesson panels: figure lists shared with ui/lessons.py and the panel modules ---------------

def spp_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """SPP-net's bins and its vector at two sizes (the tab may show YOLO SPP: SPP-net then runs on
    the same cached features), the window-rule example, and YOLO SPP vs SPPF on the picture's C5."""
    picture, device = analysis.picture, analysis.device
    net = analysis if analysis.neck_name == "spp" else analyse(picture, "spp", {}, device)
    half = analyse(rescaled(picture, 0.5), "spp", net.config, device)
    comparison = compare_spp_sppf(run_backbone(picture, device).features["C5"])
    levels = ", ".join(map(str, FORMULA_LEVELS))
    return [LessonFigure("spp-bins", TEXT["spp_bins"], lambda: bins_figure(net, lang=lang)),
            LessonFigure("spp-vectors", TEXT["spp_vectors"], lambda: vector_figure([net, half], lang)),
            LessonFigure("spp-formula", TEXT["spp_formula"].format(size=FORMULA_SIZE, levels=levels),
                         lambda: formula_figure(FORMULA_SIZE, FORMULA_LEVELS, lang)),
            LessonFigure("spp-sppf", TEXT["spp_sppf"], lambda: spp_sppf_figure(comparison, lang))]


def fpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure("fpn-outputs", TEXT["fpn_outputs"], lambda: outputs_figure([analysis], ["FPN"], lang))]


def panet_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """The long path vs PANet's shortcut, and FPN vs PANet outputs (FPN with the same settings)."""
    levels = sorted(n.level for n in analysis.topology.nodes if n.is_input)
    counts = path_count(analysis, backbone_on(analysis.device).conv_layers_between(levels[0], levels[-1]))
    fpn = analyse(analysis.picture, "fpn", analysis.config, analysis.device)
    return [LessonFigure("panet-paths", TEXT["panet_paths"], lambda: path_figure(analysis, counts, lang)),
            LessonFigure("panet-compare", TEXT["panet_compare"],
                         lambda: outputs_figure([fpn, analysis], ["FPN", "PANet"], lang))]


def aspp_cell(analysis: Analysis, cell: tuple[int, int] | None = None) -> tuple[int, int]:
    """`cell` if it lies on the C5 map, else the map's centre."""
    h, w = analysis.trace[analysis.topology.inputs[0]].shape[-2:]
    return cell if cell is not None and 0 <= cell[0] < h and 0 <= cell[1] < w else (h // 2, w // 2)


def aspp_figures(analysis: Analysis, cell: tuple[int, int] | None = None, lang: str = "en") -> list[LessonFigure]:
    """Taps and receptive-field boxes of every branch at a C5 cell (default: the centre), and the
    effective receptive field of each branch and of the fused output there."""
    cell = aspp_cell(analysis, cell)
    nodes = [b.node for b in branches(analysis)] + list(analysis.outputs)
    erfs = effective_receptive_fields(analysis, nodes, cell)
    at = f"({cell[0]}, {cell[1]})"
    return [LessonFigure("aspp-taps", TEXT["aspp_taps"].format(cell=at), lambda: taps_figure(analysis, cell, lang)),
            LessonFigure("aspp-erf", TEXT["aspp_erf"].format(cell=at), lambda: erf_figure(analysis, erfs, cell, lang))]


def nasfpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """The merging cells of the first stage (every stage repeats them)."""
    stage = first_stage(analysis) or 1
    cells = [n.id for n in analysis.topology.nodes
             if n.stage == stage and "resized" in analysis.trace.extras.get(n.id, {})]
    return [LessonFigure(f"nasfpn-cell-{file_safe(node)}", TEXT["nasfpn_cell"].format(node=node),
                         lambda node=node: cell_figure(analysis, node, lang)) for node in cells]


def bifpn_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    """The first cell's weighted graph and what each of its fusion nodes does (cells repeat)."""
    cell = bifpn_cells(analysis)[0]
    return [LessonFigure(f"bifpn-cell-{cell}", TEXT["bifpn_graph"].format(cell=cell),
                         lambda: fusion_graph_figure(analysis, cell, lang))] + [
        LessonFigure(f"bifpn-fused-{file_safe(node)}", TEXT["bifpn_fused"].format(node=node),
                     lambda node=node: fused_figure(analysis, node, lang)) for node in fusion_nodes(analysis, cell)]


def asff_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure(f"asff-level-{level}", TEXT["asff_level"].format(level=level),
                         lambda level=level: weights_figure(analysis, level, lang)) for level in asff_levels(analysis)]


def rfp_figures(analysis: Analysis, lang: str = "en") -> list[LessonFigure]:
    return [LessonFigure("rfp-unrolled", TEXT["rfp_unrolled"], lambda: unrolled_figure(analysis, lang)),
            LessonFigure("rfp-passes", TEXT["rfp_passes"], lambda: passes_figure(analysis, lang)),
            LessonFigure("rfp-gates", TEXT["rfp_gates"], lambda: gates_figure(analysis, lang))]


PANEL_FIGURES: dict[str, Callable[[Analysis], list[LessonFigure]]] = {
    "SPP": spp_figures,
    "FPN": fpn_figures,
    "ASPP": aspp_figures,
    "PANet": panet_figures,
    "NAS-FPN": nasfpn_figures,
    "BiFPN": bifpn_figures,
    "ASFF": asff_figures,
    "Recursive-FPN": rfp_figures,
}


def lesson_figures(analysis: Analysis, steps: Sequence[str] | None = None) -> list[LessonFigure]:
    """The lesson of the analysed neck: its graph, one figure per step (`steps`, default
    `step_nodes`), then its tab's lesson-panel figures."""
    order = analysis.topology.order
    figures = [LessonFigure("graph", TEXT["graph"].format(neck=NECKS[analysis.neck_name].title),
                            lambda: graph_figure(analysis))]
    for node in step_nodes(analysis) if steps is None else steps:
        k = order.index(node)
        figures.append(LessonFigure(f"step-{k:03d}-{file_safe(node)}", TEXT["step"].format(k=k, node=node),
                                    lambda node=node: step_figure(analysis, node), node))
    panel = PANEL_FIGURES.get(NECKS[analysis.neck_name].tab_title)
    return figures + (panel(analysis) if panel else [])
