"""NAS-FPN's lesson: the merging-cell list of a stage and what one cell does to its two inputs."""
from __future__ import annotations

from typing import cast

from matplotlib.figure import Figure

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.pyramid import level_of
from necklab.lab.shape_rules import sized_edge_label
from necklab.models.cell_design import StageCell
from necklab.viz.maps import LABEL_SIZE, TITLE_SIZE, mean_map, overlay_heatmap
from necklab.viz.step import note_text


def cell_table_headers(lang: str = "en") -> list[str]:
    return t("nasfpn.headers", lang).split("|")


CELL_TABLE_HEADERS = cell_table_headers()


def cell_rows(analysis: Analysis, lang: str = "en") -> list[list]:
    """The reference's cell list of one stage, as the neck's topology states it."""
    cells = cast("tuple[StageCell, ...]", analysis.topology.extras["cells"])  # NAS-FPN's extras: its checked cells
    return [[i + 1, c.name, t("nasfpn.gp" if c.op == "gp" else "nasfpn.sum", lang), c.a, c.b, f"P{c.level}",
             t("nasfpn.out_conv" if c.with_out_conv else "nasfpn.none", lang)]
            for i, c in enumerate(cells)]


def first_step_of_stage(analysis: Analysis, stage: int) -> int:
    """Index in execution order of the first node of `stage`."""
    return next(i for i, n in enumerate(analysis.topology.nodes) if n.stage == stage)


def cell_figure(analysis: Analysis, node_id: str, lang: str = "en") -> Figure | None:
    """A merging cell's two inputs resized to its output level, the global-pooling attention where
    the cell has one, and the cell's output — all on the picture. None for nodes that are not cells."""
    extras = analysis.trace.extras.get(node_id, {})
    if "resized" not in extras:
        return None
    node = analysis.topology.node(node_id)
    a, b = extras["resized"]
    attention = extras.get("attention")
    grid = analysis.grid(level_of(node))
    shape = "×".join(map(str, analysis.trace[node_id].shape[1:]))
    panels = [(t("nasfpn.input_a", lang, source=node.inputs[0].source,
                 op=sized_edge_label(analysis, node, node.inputs[0], lang)), a),
              (t("nasfpn.input_b", lang, source=node.inputs[1].source, level=node.level), b),
              (t("nasfpn.output", lang, node=node_id, shape=shape), analysis.trace[node_id])]
    cols = len(panels) + (attention is not None)
    fig = Figure(figsize=(4.2 * cols, 4.3), layout="constrained")
    axes = fig.subplots(1, cols)
    for ax, (title, x) in zip(axes, panels):
        im = overlay_heatmap(ax, analysis.picture, mean_map(x), grid, lang=lang)
        ax.set_title(title, fontsize=LABEL_SIZE)
        bar = fig.colorbar(im, ax=ax, shrink=0.7, label=t("nasfpn.mean_activation", lang))
        bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
    if attention is not None:
        ax = axes[-1]
        values = attention.reshape(-1).numpy()
        ax.fill_between(range(values.size), values, step="mid", color="#CC79A7")
        ax.set_ylim(0, 1)
        ax.set_xlabel(t("nasfpn.channel", lang), fontsize=LABEL_SIZE)
        ax.set_ylabel(t("nasfpn.sigma", lang), fontsize=LABEL_SIZE)
        ax.set_title(t("nasfpn.attention", lang), fontsize=LABEL_SIZE)
        rule = t("nasfpn.rule_gp", lang)
    else:
        rule = t("nasfpn.rule_sum", lang)
    if node.note is None:
        raise ValueError(f"cell {node_id!r} has no note")  # every merging cell says what its output conv does
    conv = note_text(node.note, lang).rstrip(".。")
    fig.suptitle(t("nasfpn.suptitle", lang, node=node_id, rule=rule, conv=conv), fontsize=TITLE_SIZE)
    return fig
