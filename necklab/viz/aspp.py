"""The ASPP lesson: where each branch's 3×3 taps land on the picture for one clicked cell (and when a
large rate leaves only the centre tap on the map), and the effective receptive field of every branch.

Branches, their kernels and rates are read from the neck's topology (the layers on each branch's
edge), so an edited list of rates is drawn as it was run.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from necklab.graph import receptive_field as rfm
from necklab.i18n import t
from necklab.lab.analysis import Analysis, CellGrid
from necklab.lab.cell import cell_fields
from necklab.lab.erf import mass_area
from necklab.lab.pyramid import level_of
from necklab.lab.words import branch_words, weights_words
from necklab.viz.cell import CELL, ERF_WINDOW, HALO, local_mean, mark_cell, original_box
from necklab.viz.graph import OKABE_ITO
from necklab.viz.maps import HEATMAP_CMAP, LABEL_SIZE, TITLE_SIZE, original_extent, show_picture, to_original

INSIDE = OKABE_ITO[4]  # blue: a tap that reads the feature map
OUTSIDE = OKABE_ITO[5]  # vermillion, hollow: a tap that reads zero padding
FIELD = OKABE_ITO[2]  # bluish green: theoretical receptive field
MAP_EDGE = "black"
BEYOND = "#E8E8E8"  # panel background outside the picture
DEGENERATE = t("aspp.degenerate")


@dataclass(frozen=True)
class Branch:
    """One parallel branch of the neck as its topology states it."""

    node: str
    label: str
    source: str  # the map all branches read (ASPP: C5)
    level: int
    layers: tuple[rfm.Layer, ...]

    @property
    def global_pool(self) -> bool:
        return any(layer.global_pool for layer in self.layers)

    @property
    def conv(self) -> rfm.Layer:
        """The branch's spatial conv (a 1×1 for image pooling)."""
        return next(layer for layer in self.layers if not layer.global_pool)


def branches(analysis: Analysis) -> list[Branch]:
    """The topology's branch nodes (those with a `branch` label), in execution order; all read the
    same map."""
    return [Branch(n.id, n.branch, n.inputs[0].source, level_of(n), n.inputs[0].layers)
            for n in analysis.topology.nodes if n.branch is not None]


def taps(branch: Branch, cell: tuple[int, int], rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of every input cell the branch reads for `cell` (N×2), and which lie on the
    rows×cols map. Image pooling reads every cell; a k×k conv at dilation r reads (i + dy·r, j + dx·r)."""
    if branch.global_pool:
        grid = np.stack(np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij"), axis=-1).reshape(-1, 2)
        return grid, np.ones(len(grid), dtype=bool)
    k, r = branch.conv.kernel, branch.conv.dilation
    offsets = (np.arange(k) - k // 2) * r
    dy, dx = np.meshgrid(offsets, offsets, indexing="ij")
    positions = np.stack([cell[0] + dy.ravel(), cell[1] + dx.ravel()], axis=-1)
    inside = (positions[:, 0] >= 0) & (positions[:, 0] < rows) & (positions[:, 1] >= 0) & (positions[:, 1] < cols)
    return positions, inside


def _centres(analysis: Analysis, grid: CellGrid, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cell centres (x, y) in original-picture pixels; positions may lie off the map."""
    return to_original(analysis.picture, grid.start_x + positions[:, 1] * grid.jump,
                       grid.start_y + positions[:, 0] * grid.jump)


def _field_box(analysis: Analysis, branch: Branch, cell: tuple[int, int]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) in original pixels of the branch's theoretical receptive field at
    `cell`: the one path from the map all branches read through the branch's layers, as the cell view
    (necklab.viz.cell) draws every node's."""
    (field,) = cell_fields(analysis, branch.node, cell)
    return original_box(analysis.picture, field)


def _panel_figure(n: int, aspect: float, extra_height: float) -> tuple[Figure, list[Axes]]:
    """A figure of n picture panels (width/height `aspect`) in rows of three, about 4.2 in each."""
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    panel_w = 4.2
    panel_h = panel_w / max(0.6, min(1.8, aspect)) + 0.9
    fig = Figure(figsize=(cols * panel_w + 0.6, rows * panel_h + extra_height), layout="constrained")
    axes = list(np.atleast_1d(fig.subplots(rows, cols)).ravel())
    for ax in axes[n:]:
        ax.axis("off")
    return fig, axes[:n]


def taps_figure(analysis: Analysis, cell: tuple[int, int], lang: str = "en") -> Figure:
    """One panel per branch over the picture: the taps it reads for the clicked cell (filled on the
    map, hollow where they fall into the zero padding) and its theoretical receptive field."""
    parts = branches(analysis)
    if not parts:
        raise ValueError(f"{analysis.neck_name} has no parallel branches to draw")
    w, h = analysis.picture.original_size
    sx, sy = analysis.picture.scale_xy
    source = parts[0].source
    rows, cols = analysis.trace[source].shape[-2:]
    fig, axes = _panel_figure(len(parts), 1.0, 1.3)
    for ax, branch in zip(axes, parts):
        grid = analysis.grid(branch.level)
        positions, inside = taps(branch, cell, rows, cols)
        xs, ys = _centres(analysis, grid, positions)
        box = _field_box(analysis, branch, cell)
        show_picture(ax, analysis.picture, lang)
        ax.set_facecolor(BEYOND)
        left, right, bottom, top = original_extent(analysis.picture, grid, rows, cols)
        ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor=MAP_EDGE,
                               linestyle=(0, (2, 2)), linewidth=1.2, zorder=2))
        ax.add_patch(Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, edgecolor=FIELD,
                               linestyle=(0, (6, 3)), linewidth=2.4, zorder=3))
        size = 14 if branch.global_pool else 90
        ax.scatter(xs[inside], ys[inside], s=size, c=INSIDE, edgecolors="white", linewidths=1, zorder=4)
        ax.scatter(xs[~inside], ys[~inside], s=size, facecolors="none", edgecolors=OUTSIDE, linewidths=2.2,
                   zorder=4)
        mark_cell(ax, analysis.picture, grid, cell)
        # Everything drawn stays in view (picture, map, field, taps with half a cell), plus a 3 % rim.
        half_x, half_y = grid.jump / 2 / sx, grid.jump / 2 / sy
        x0, x1 = min(-0.5, left, box[0], xs.min() - half_x), max(w - 0.5, right, box[2], xs.max() + half_x)
        y0, y1 = min(-0.5, top, box[1], ys.min() - half_y), max(h - 0.5, bottom, box[3], ys.max() + half_y)
        rim = 0.03 * max(x1 - x0, y1 - y0)
        ax.set_xlim(x0 - rim, x1 + rim)
        ax.set_ylim(y1 + rim, y0 - rim)
        ax.set_aspect("equal")
        ax.set_title(_taps_title(branch, inside, box, lang), fontsize=TITLE_SIZE - 2,
                     color=OUTSIDE if _degenerate(branch, inside) else "black")
    handles = [
        Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=INSIDE, markeredgecolor="white",
               label=t("aspp.tap_on", lang)),
        Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor="none", markeredgecolor=OUTSIDE,
               markeredgewidth=2, label=t("aspp.tap_off", lang)),
        Patch(fill=False, edgecolor=CELL, linewidth=2, path_effects=HALO, label=t("aspp.clicked", lang)),
        Patch(fill=False, edgecolor=FIELD, linewidth=2.4, linestyle=(0, (6, 3)), label=t("aspp.field", lang)),
        Patch(fill=False, edgecolor=MAP_EDGE, linestyle=(0, (2, 2)), label=t("aspp.map", lang, source=source)),
        Patch(facecolor=BEYOND, edgecolor="#AAAAAA", label=t("aspp.beyond", lang)),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=LABEL_SIZE - 1, frameon=False)
    fig.suptitle(t("aspp.taps_suptitle", lang, source=source, cell=tuple(cell), rows=rows, cols=cols),
                 fontsize=TITLE_SIZE + 1)
    return fig


def _degenerate(branch: Branch, inside: np.ndarray) -> bool:
    """Every off-centre tap off the map (the centre one is the clicked cell, always on it)."""
    return not branch.global_pool and branch.conv.kernel > 1 and int(inside.sum()) == 1


def _taps_title(branch: Branch, inside: np.ndarray, box: tuple[float, float, float, float], lang: str = "en") -> str:
    if branch.global_pool:
        lines = [t("aspp.averages", lang, label=branch_words(branch.label, lang), n=inside.size), t("aspp.whole", lang)]
    else:
        k, r = branch.conv.kernel, branch.conv.dilation
        lines = [t("aspp.taps_apart", lang, label=branch_words(branch.label, lang), k=k, r=r) if k > 1
                 else t("aspp.alone", lang, label=branch_words(branch.label, lang)),
                 t("aspp.on_map", lang, on=int(inside.sum()), n=inside.size, fw=f"{box[2] - box[0]:,.0f}",
                   fh=f"{box[3] - box[1]:,.0f}")]
    return "\n".join(lines + ([t("aspp.degenerate", lang)] if _degenerate(branch, inside) else []))


def erf_figure(analysis: Analysis, erfs: Mapping[str, np.ndarray],
               cell: tuple[int, int] | Mapping[str, tuple[int, int]], lang: str = "en") -> Figure:
    """Each node's effective receptive field over the picture (local mean, max-normalised, square-root
    colour scale), the clicked cell outlined, and the area holding 95 % of the gradient mass (counted
    on the raw per-pixel gradient) in the title. `cell` is one cell for all nodes or one per node
    (nodes of different levels have their own grids)."""
    if not erfs:
        raise ValueError("no effective receptive fields to draw")
    cells: Mapping[str, tuple[int, int]] = (cell if isinstance(cell, Mapping)
                                            else dict.fromkeys(erfs, (cell[0], cell[1])))
    picture = analysis.picture
    w, h = picture.original_size
    sx, sy = picture.scale_xy
    fig, axes = _panel_figure(len(erfs), w / h, 1.0)
    image = None
    for ax, (node_id, erf) in zip(axes, erfs.items()):
        node = analysis.topology.node(node_id)
        show_picture(ax, picture, lang)
        shown = local_mean(erf)
        peak = float(shown.max())
        image = ax.imshow(shown / peak if peak > 0 else shown, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                          cmap=HEATMAP_CMAP, norm=PowerNorm(0.5, vmin=0, vmax=1), alpha=0.75)
        mark_cell(ax, picture, analysis.grid(level_of(node)), cells[node_id])
        count, share = mass_area(erf)
        label = f"{node_id} ({branch_words(node.branch, lang)})" if node.branch else node_id
        ax.set_title(t("aspp.erf_title", lang, label=label, area=f"{count / (sx * sy):,.0f}", share=f"{share:.0%}"),
                     fontsize=TITLE_SIZE - 1)
    assert image is not None  # erfs is not empty: every panel drew one
    bar = fig.colorbar(image, ax=axes, orientation="horizontal", shrink=0.5, aspect=40)
    bar.set_label(t("aspp.erf_bar", lang), fontsize=LABEL_SIZE)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 2)
    which = t("aspp.centre_cells", lang) if isinstance(cell, Mapping) else t("aspp.cell", lang, cell=tuple(cell))
    fig.suptitle(t("aspp.erf_suptitle", lang, which=which, window=ERF_WINDOW,
                   weights=weights_words(analysis.weights, lang)), fontsize=TITLE_SIZE)
    return fig
