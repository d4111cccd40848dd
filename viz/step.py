"""One step of a neck's step-through: the node's feature map on the picture, its strongest channels,
what the step does in words, and the table of every node."""
from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from necks.analysis import Analysis

from .maps import CHANNEL_CMAP, LABEL_SIZE, TITLE_SIZE, mean_map, overlay_heatmap

NODE_TABLE_HEADERS = ["step", "node", "op", "inputs (op)", "stride", "C", "H", "W", "params of the op"]


def _stride(analysis: Analysis, node_id: str) -> int | None:
    level = analysis.topology.node(node_id).level
    return 2 ** level if level is not None else None


def node_table(analysis: Analysis) -> list[list]:
    """One row per node in execution order."""
    rows = []
    for k, node in enumerate(analysis.topology.nodes):
        t = analysis.trace[node.id]
        c, h, w = (list(t.shape[1:]) + [1, 1])[:3]
        inputs = ", ".join(f"{e.source} ({e.op})" for e in node.inputs) or "—"
        rows.append([k, node.id, node.op, inputs, _stride(analysis, node.id) or "—", c, h, w,
                     analysis.node_params.get(node.id, 0)])
    return rows


def narration(analysis: Analysis, node_id: str) -> str:
    """Markdown for one step: what the node is, how it was made, its shape and value range."""
    node = analysis.topology.node(node_id)
    t = analysis.trace[node_id]
    k = analysis.topology.order.index(node_id)
    shape = "×".join(str(d) for d in t.shape[1:])
    lines = [f"**Step {k} of {len(analysis.topology.nodes) - 1} · `{node_id}`** — {node.op}, shape **{shape}**"
             + (f", stride {_stride(analysis, node_id)}" if node.level is not None else "")]
    if node.note:
        lines.append(node.note[0].upper() + node.note[1:] + ".")
    if node.inputs:
        lines.append("Inputs: " + "; ".join(f"`{e.source}` via {e.op}" for e in node.inputs) + ".")
    params = analysis.node_params.get(node_id, 0)
    lines.append(f"Parameters of this op: {params:,}. Values: mean {float(t.mean()):.3g}, "
                 f"std {float(t.std()) if t.numel() > 1 else 0.0:.3g}, min {float(t.min()):.3g}, "
                 f"max {float(t.max()):.3g}.")
    return "\n\n".join(lines)


def _cell_grid(analysis: Analysis, node_id: str, shape: tuple[int, int]):
    """The node's cell grid on the picture, or None for maps not on a pyramid grid (pooled bins)."""
    node = analysis.topology.node(node_id)
    if node.level is None or node.level < 1:
        return None
    grid = analysis.grid(node.level)
    return grid if shape != (1, 1) else None


def step_figure(analysis: Analysis, node_id: str, channels: int = 4) -> Figure:
    """The node's mean map over the picture (aligned through its cell grid) beside its `channels`
    strongest channels; a pooled vector is drawn as bars."""
    t = analysis.trace[node_id].float()
    node = analysis.topology.node(node_id)
    shape = "×".join(str(d) for d in t.shape[1:])
    if t.dim() != 4:
        fig = Figure(figsize=(12, 3.6), layout="constrained")
        ax = fig.add_subplot()
        values = t.reshape(-1).numpy()
        ax.fill_between(np.arange(values.size), values, step="mid", color="#0072B2")
        ax.set_xlabel("vector index", fontsize=LABEL_SIZE)
        ax.set_ylabel("value", fontsize=LABEL_SIZE)
        ax.set_title(f"{node_id} ({node.op}): vector of length {values.size}", fontsize=TITLE_SIZE)
        return fig
    h, w = t.shape[-2:]
    k = min(channels, t.shape[1])
    # Fixed positions (figure fractions) instead of a layout engine: stepping redraws this figure
    # and constrained layout would cost more than the drawing itself.
    fig = Figure(figsize=(12.5, 4.6))
    ax = fig.add_axes((0.06, 0.12, 0.36, 0.72))
    cax = fig.add_axes((0.43, 0.12, 0.012, 0.72))
    grid = _cell_grid(analysis, node_id, (h, w))
    if grid is not None:
        im = overlay_heatmap(ax, analysis.picture, mean_map(t), grid)
        ax.set_title(f"mean over {t.shape[1]} channels, on the picture", fontsize=LABEL_SIZE + 1)
    else:
        im = ax.imshow(mean_map(t), cmap="viridis", interpolation="nearest")
        ax.set_title(f"mean over {t.shape[1]} channels ({h}×{w} cells)", fontsize=LABEL_SIZE + 1)
    bar = fig.colorbar(im, cax=cax)
    bar.set_label("mean activation", fontsize=LABEL_SIZE - 1)
    energy = t[0].pow(2).sum(dim=(1, 2))
    cols = (k + 1) // 2
    width = 0.44 / max(cols, 1)
    for i, ch in enumerate(energy.argsort(descending=True)[:k].tolist()):
        row, col = i % 2, i // 2
        cax = fig.add_axes((0.53 + col * width, 0.5 - row * 0.42, width * 0.9, 0.34))
        cax.imshow(t[0, ch].numpy(), cmap=CHANNEL_CMAP, interpolation="nearest", aspect="auto")
        cax.set_title(f"channel {ch}", fontsize=LABEL_SIZE - 1)
        cax.set_xticks([])
        cax.set_yticks([])
    fig.suptitle(f"{node_id} · {node.op} · {shape}   (right: the {k} strongest channels by energy, "
                 "each on its own colour scale)", fontsize=TITLE_SIZE)
    return fig
