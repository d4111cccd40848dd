"""BiFPN's lesson: the fast normalised fusion weights of every node — on a cell's graph, in a table,
and what they do to the inputs one node fuses."""
from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import MaxNLocator
from torch import Tensor

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.pyramid import level_of, stage_of
from necklab.lab.words import edge_label, weights_words
from necklab.models.necks.bifpn import FUSION_EPS
from necklab.viz.graph import BEND, GraphPicture, focus_nodes
from necklab.viz.maps import LABEL_SIZE, TITLE_SIZE, mean_map, overlay_heatmap


def weight_headers(lang: str = "en") -> list[str]:
    return t("bifpn.headers", lang).split("|")


WEIGHT_HEADERS = weight_headers()
WIDTH_PER_WEIGHT = 8.0  # edge width in points for a normalised weight of 1
MIN_WIDTH = 0.6  # an input weighted zero stays visible
RULE = f"w = relu(raw) / (Σ relu(raw) + {FUSION_EPS:g})"


def fusion_nodes(analysis: Analysis, cell: int | None = None) -> list[str]:
    """Ids of the nodes that fuse with weights, of one cell (counted from 1) or of all, in execution order."""
    return [n.id for n in analysis.topology.nodes
            if "weights" in analysis.trace.extras.get(n.id, {}) and cell in (None, n.stage)]


def cells(analysis: Analysis) -> list[int]:
    """The cells (repeats) of the analysed BiFPN, counted from 1."""
    return sorted({stage_of(analysis.topology.node(n)) for n in fusion_nodes(analysis)})


def edge_width(weight: float) -> float:
    """Edge width in points for a normalised weight."""
    return max(MIN_WIDTH, WIDTH_PER_WEIGHT * weight)


def fusion_graph_figure(analysis: Analysis, cell: int, lang: str = "en", slide: bool = False) -> Figure:
    """One cell's eight fusion nodes and the nodes feeding them; each fusion edge drawn as wide as
    its normalised weight and labelled with it. `slide` lays it out for a 16:9 slide (packs)."""
    nodes = fusion_nodes(analysis, cell)
    if not nodes:
        raise ValueError(f"the analysis has no BiFPN cell {cell}")
    topology = analysis.topology
    shown = focus_nodes(topology, nodes[0]) or topology.order  # one cell: every node
    widths: dict[tuple[str, str], float] = {}
    # The edges feeding the cell keep their op, on two lines where it has two parts: the label of
    # C5 → P6 ("1×1 conv+BN, max-pool ↓2") is longer than its edge.
    labels = {(e.source, n): edge_label(e, lang, sep=",\n") for n in shown for e in topology.node(n).inputs
              if e.source in shown}
    bends: dict[tuple[str, str], float] = {}
    for node_id in nodes:
        node = topology.node(node_id)
        for edge, w in zip(node.inputs, analysis.trace.extras[node_id]["weights"].tolist()):
            widths[edge.source, node_id] = edge_width(w)
            labels[edge.source, node_id] = f"w={w:.2f}"
        # BiFPN's extra edge from a level's cell input to its output runs beside the input's edge
        # to the top-down node of that level: bow it the other way. It is every same-level input
        # but the last (the top-down node, computed just before).
        same_level = [e.source for e in node.inputs if topology.node(e.source).level == node.level]
        bends.update({(source, node_id): -BEND for source in same_level[:-1]})
    key = {f"w = {w:g}": edge_width(w) for w in (0.0, 0.25, 0.5, 1.0)}
    title = t("bifpn.graph_title", lang, cell=cell, cells=len(cells(analysis)),
              weights=weights_words(analysis.weights, lang))
    return GraphPicture(topology, analysis.trace.tensors, shown, title, edge_widths=widths, edge_labels=labels,
                        edge_bends=bends, width_key=key, lang=lang, slide=slide).figure(None)


def _numbers(values: Tensor, decimals: int) -> str:
    return ", ".join(f"{v:.{decimals}f}" for v in values.tolist())


def weights_rows(analysis: Analysis) -> list[list]:
    """One row per fusion node of every cell: its inputs, raw and normalised weights, and their sum
    (just under 1: the ε in the denominator)."""
    rows = []
    for node_id in fusion_nodes(analysis):
        node = analysis.topology.node(node_id)
        extras = analysis.trace.extras[node_id]
        rows.append([node.stage, node_id, ", ".join(e.source for e in node.inputs), _numbers(extras["raw_weights"], 3),
                     _numbers(extras["weights"], 3), round(float(extras["weights"].sum()), 5)])
    return rows


def _values(im: AxesImage) -> np.ndarray:
    """The array an image draws (imshow always gives it one; matplotlib types it as optional)."""
    values = im.get_array()
    if values is None:
        raise ValueError("the image has no data")
    return values


def fused_figure(analysis: Analysis, node_id: str, lang: str = "en") -> Figure:
    """One fusion node on the picture. Top: each input resampled to the node's level (own colour
    scale) and the node's output. Bottom, on one colour scale so magnitudes compare: each input
    times its weight, and their sum — the fused map the weights make."""
    extras = analysis.trace.extras[node_id]
    node = analysis.topology.node(node_id)
    weights = extras["weights"].tolist()
    inputs = [mean_map(x) for x in extras["resampled"]]
    fused = mean_map(extras["fused"])
    cols = len(inputs) + 1
    width, height = analysis.picture.original_size
    row_height = 3.0 * min(height / width, 1.4) + 1.3  # the picture, a three-line title, a colour bar
    fig = Figure(figsize=(3.6 * cols, 2 * row_height + 0.5), layout="constrained")
    axes = fig.subplots(2, cols)
    grid = analysis.grid(level_of(node))

    def heatmap(ax: Axes, values: np.ndarray, title: str) -> AxesImage:
        im = overlay_heatmap(ax, analysis.picture, values, grid)
        ax.set_title(title, fontsize=LABEL_SIZE)
        ax.set_xlabel("")
        ax.set_ylabel("")
        return im

    def colorbar(im: AxesImage, axes: Axes | np.ndarray, label: str = "", aspect: float = 20) -> None:
        bar = fig.colorbar(im, ax=axes, orientation="horizontal", shrink=0.85, pad=0.02, aspect=aspect, label=label)
        bar.ax.xaxis.set_major_locator(MaxNLocator(4))
        bar.ax.tick_params(labelsize=LABEL_SIZE - 3)

    for i, (edge, raw, w, values) in enumerate(zip(node.inputs, extras["raw_weights"].tolist(), weights, inputs)):
        title = t("bifpn.input", lang, i=i + 1, source=edge.source, op=edge_label(edge, lang), raw=f"{raw:.2f}",
                  w=f"{w:.3f}")
        colorbar(heatmap(axes[0][i], values, title), axes[0][i])
    shape = "×".join(map(str, analysis.trace[node_id].shape[1:]))
    colorbar(heatmap(axes[0][-1], mean_map(analysis.trace[node_id]),
                     t("bifpn.output", lang, node=node_id, shape=shape)), axes[0][-1])
    terms = [heatmap(axes[1][i], w * values, t("bifpn.term", lang, plus="+ " if i else "", w=f"{w:.3f}", i=i + 1))
             for i, (w, values) in enumerate(zip(weights, inputs))]
    terms.append(heatmap(axes[1][-1], fused, t("bifpn.fused", lang)))
    low = min(float(_values(term).min()) for term in terms)
    high = max(float(_values(term).max()) for term in terms)
    for im in terms:
        im.set_clim(low, high)
    colorbar(terms[-1], axes[1], t("bifpn.scale", lang), 80)
    fig.suptitle(t("bifpn.suptitle", lang, node=node_id, level=node.level, rule=RULE), fontsize=TITLE_SIZE)
    return fig
