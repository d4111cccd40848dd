"""NAS-FPN's lesson: the merging-cell list of a stage and what one cell does to its two inputs."""
from __future__ import annotations

from matplotlib.figure import Figure

from necks.analysis import Analysis

from .maps import LABEL_SIZE, TITLE_SIZE, mean_map, overlay_heatmap

CELL_TABLE_HEADERS = ["order", "cell", "op", "input A", "input B", "output level", "output conv"]


def cell_rows(analysis: Analysis) -> list[list]:
    """The reference's cell list of one stage, as the neck's topology states it."""
    return [[i + 1, c.name, "global pooling" if c.op == "gp" else "sum", c.a, c.b, f"P{c.level}",
             "ReLU → 3×3 conv → BN" if c.with_out_conv else "none"]
            for i, c in enumerate(analysis.topology.extras["cells"])]


def first_step_of_stage(analysis: Analysis, stage: int) -> int:
    """Index in execution order of the first node of `stage`."""
    return next(i for i, n in enumerate(analysis.topology.nodes) if n.stage == stage)


def cell_figure(analysis: Analysis, node_id: str) -> Figure | None:
    """A merging cell's two inputs resized to its output level, the global-pooling attention where
    the cell has one, and the cell's output — all on the picture. None for nodes that are not cells."""
    extras = analysis.trace.extras.get(node_id, {})
    if "resized" not in extras:
        return None
    node = analysis.topology.node(node_id)
    a, b = extras["resized"]
    attention = extras.get("attention")
    grid = analysis.grid(node.level)
    panels = [(f"input A: {node.inputs[0].source}\n({node.inputs[0].op})", a),
              (f"input B: {node.inputs[1].source}\n(resized to P{node.level})", b),
              (f"output {node_id}\n{'×'.join(map(str, analysis.trace[node_id].shape[1:]))}", analysis.trace[node_id])]
    cols = len(panels) + (attention is not None)
    fig = Figure(figsize=(4.2 * cols, 4.3), layout="constrained")
    axes = fig.subplots(1, cols)
    for ax, (title, t) in zip(axes, panels):
        im = overlay_heatmap(ax, analysis.picture, mean_map(t), grid)
        ax.set_title(title, fontsize=LABEL_SIZE)
        fig.colorbar(im, ax=ax, shrink=0.7, label="mean activation").ax.tick_params(labelsize=LABEL_SIZE - 3)
    if attention is not None:
        ax = axes[-1]
        values = attention.reshape(-1).numpy()
        ax.fill_between(range(values.size), values, step="mid", color="#CC79A7")
        ax.set_ylim(0, 1)
        ax.set_xlabel("channel", fontsize=LABEL_SIZE)
        ax.set_ylabel("σ(global average of B)", fontsize=LABEL_SIZE)
        ax.set_title("attention: one weight per channel,\nthe same at every position", fontsize=LABEL_SIZE)
        rule = "output = B + attention · A"
    else:
        rule = "output = A + B"
    conv = analysis.topology.node(node_id).note
    fig.suptitle(f"{node_id}: {rule}  —  {conv}", fontsize=TITLE_SIZE)
    return fig
