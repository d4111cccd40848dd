"""NAS-FPN's lesson: the merging-cell list of a stage and what one cell does to its two inputs."""
from __future__ import annotations

from typing import cast

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.imaging import Picture
from necklab.lab.pyramid import level_of
from necklab.lab.shape_rules import sized_edge_label
from necklab.models.cell_design import StageCell
from necklab.viz.maps import HEATMAP_CMAP, LABEL_SIZE, TITLE_SIZE, mean_map, original_extent, set_map, show_picture
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


def is_cell(analysis: Analysis, node_id: str) -> bool:
    """Whether a node is a merging cell (its trace keeps the cell's resized inputs)."""
    return "resized" in analysis.trace.extras.get(node_id, {})


def has_attention(analysis: Analysis, node_id: str) -> bool:
    """Whether a merging cell weighs an input by global-pooling attention."""
    return analysis.trace.extras.get(node_id, {}).get("attention") is not None


PANEL_W, FIGURE_H = 4.2, 4.3  # inches: one panel, the figure
# A panel's axes in inches from its left and bottom edge (room for the ticks and the axis labels
# on the left and below, the two-line title and the figure's title above).
MAP_BOX = (0.75, 0.6, 2.6, 2.65)
ATTENTION_BOX = (0.8, 0.6, 3.15, 2.65)


class CellFrame:
    """The figure of a merging cell, in fixed positions (no layout engine): its two inputs resized
    to its output level and its output, each on the picture with a colour bar, and the global-
    pooling attention for cells that have one. `show(analysis, node)` puts a cell's maps and words
    in the same artists; `changing` are the artists a cell changes (see `necklab.viz.render.Blitted`)."""

    def __init__(self, picture: Picture, attention: bool, lang: str = "en") -> None:
        self.picture, self.lang = picture, lang
        cols = 3 + attention
        self.fig = fig = Figure(figsize=(PANEL_W * cols, FIGURE_H))

        def box(col: int, left: float, bottom: float, width: float, height: float) -> tuple[float, float, float, float]:
            return ((col * PANEL_W + left) / (PANEL_W * cols), bottom / FIGURE_H, width / (PANEL_W * cols),
                    height / FIGURE_H)

        self.maps: list[AxesImage] = []
        self.changing: list[Artist] = []
        for col in range(3):
            ax = fig.add_axes(box(col, *MAP_BOX))
            show_picture(ax, picture, lang)
            im = ax.imshow(np.zeros((1, 1)), cmap=HEATMAP_CMAP, alpha=0.6, interpolation="nearest")
            bar = fig.colorbar(im, cax=ax.inset_axes((1.05, 0.1, 0.05, 0.8)))  # follows the map's drawn box
            bar.set_label(t("nasfpn.mean_activation", lang))
            bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
            self.maps.append(im)
            self.changing += [im, *ax.spines.values(), ax.title, bar.ax]  # the map covers the spines
        self.attention: Axes | None = None
        if attention:
            self.attention = ax = fig.add_axes(box(3, *ATTENTION_BOX))
            ax.set_ylim(0, 1)
            ax.set_xlabel(t("nasfpn.channel", lang), fontsize=LABEL_SIZE)
            ax.set_ylabel(t("nasfpn.sigma", lang), fontsize=LABEL_SIZE)
            ax.set_title(t("nasfpn.attention", lang), fontsize=LABEL_SIZE)
            self.bars: Artist | None = None
            self.changing.append(ax)
        self.title = fig.suptitle(" ", fontsize=TITLE_SIZE, y=1 - 0.08 / FIGURE_H, va="top")
        self.changing.append(self.title)

    @property
    def nbytes(self) -> int:
        return self.picture.rgb.nbytes

    def show(self, analysis: Analysis, node_id: str) -> Figure:
        """Put the merging cell's maps and words in the frame; returns its figure."""
        lang, extras = self.lang, analysis.trace.extras[node_id]
        node = analysis.topology.node(node_id)
        grid = analysis.grid(level_of(node))
        shape = "×".join(map(str, analysis.trace[node_id].shape[1:]))
        a, b = extras["resized"]
        panels = [(t("nasfpn.input_a", lang, source=node.inputs[0].source,
                     op=sized_edge_label(analysis, node, node.inputs[0], lang)), a),
                  (t("nasfpn.input_b", lang, source=node.inputs[1].source, level=node.level), b),
                  (t("nasfpn.output", lang, node=node_id, shape=shape), analysis.trace[node_id])]
        for im, (title, x) in zip(self.maps, panels):
            values = mean_map(x)
            set_map(im, values, original_extent(self.picture, grid, *values.shape))
            im.axes.set_title(title, fontsize=LABEL_SIZE)
        if self.attention is not None:
            values = extras["attention"].reshape(-1).numpy()
            if self.bars is not None:
                self.bars.remove()
            self.bars = self.attention.fill_between(range(values.size), values, step="mid", color="#CC79A7")
            self.attention.set_xlim(-0.5, values.size - 0.5)
            rule = t("nasfpn.rule_gp", lang)
        else:
            rule = t("nasfpn.rule_sum", lang)
        if node.note is None:
            raise ValueError(f"cell {node_id!r} has no note")  # every merging cell says what its output conv does
        conv = note_text(node.note, lang).rstrip(".。")
        self.title.set_text(t("nasfpn.suptitle", lang, node=node_id, rule=rule, conv=conv))
        return self.fig


def cell_figure(analysis: Analysis, node_id: str, lang: str = "en") -> Figure | None:
    """A merging cell's two inputs resized to its output level, the global-pooling attention where
    the cell has one, and the cell's output — all on the picture (`CellFrame`). None for nodes that
    are not cells."""
    if not is_cell(analysis, node_id):
        return None
    return CellFrame(analysis.picture, has_attention(analysis, node_id), lang).show(analysis, node_id)
