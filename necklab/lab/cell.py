"""What one cell of a node's map sees: which cell a point of the picture lands on, the cell's
theoretical receptive field through each distinct path of the graph to the inputs, and its
activation. Its effective receptive field is `necklab.lab.erf.effective_receptive_fields` of the
node at the cell.

Everything here is in analysed-picture pixels (pixel-centre coordinates, as the cell grids are);
the views turn them into the uploaded picture's pixels.

A node has cells when its map lies on a pyramid level's grid (`Analysis.grid`): a 4-D map with a
level of at least 1 that is more than one cell. SPP-net's bins (a fixed n×n grid whose bins grow with
the picture) and its pooled vector have none.
"""
from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import networkx as nx

from necklab.graph import receptive_field as rfm
from necklab.lab.analysis import Analysis, CellGrid
from necklab.lab.cache import IDLE_S, LRU


class NoCells(ValueError):
    """The node's map has no cells on the picture (a pooled vector, adaptive bins)."""


def has_cells(analysis: Analysis, node_id: str) -> bool:
    """Whether the node's map lies on a pyramid level's cell grid, so a point of the picture names one
    of its cells."""
    node = analysis.topology.node(node_id)
    x = analysis.trace[node_id]
    return x.dim() == 4 and node.level is not None and node.level >= 1 and tuple(x.shape[-2:]) != (1, 1)


def cell_nodes(analysis: Analysis) -> list[str]:
    """The nodes with cells, in execution order."""
    return [n for n in analysis.topology.order if has_cells(analysis, n)]


def node_grid(analysis: Analysis, node_id: str) -> tuple[CellGrid, int, int]:
    """The node's cell grid and its map's rows and columns; NoCells for a node without cells."""
    if not has_cells(analysis, node_id):
        raise NoCells(f"node {node_id!r} of {analysis.neck_name} has no cells on the picture")
    level = analysis.topology.node(node_id).level
    assert level is not None  # has_cells
    rows, cols = analysis.trace[node_id].shape[-2:]
    return analysis.grid(level), int(rows), int(cols)


def nearest_cell(grid: CellGrid, rows: int, cols: int, u_x: float, u_y: float) -> tuple[int, int]:
    """The (row, column) of the cell whose centre is nearest to a point in analysed pixels (cell
    (i, j) is centred at (start_x + j·jump, start_y + i·jump)), clamped to the rows×cols map."""
    i = round((u_y - grid.start_y) / grid.jump)
    j = round((u_x - grid.start_x) / grid.jump)
    return min(max(i, 0), rows - 1), min(max(j, 0), cols - 1)


def cell_under(analysis: Analysis, node_id: str, x: float, y: float) -> tuple[int, int]:
    """The node's cell under a point of the analysed picture (x, y in analysed pixels)."""
    grid, rows, cols = node_grid(analysis, node_id)
    return nearest_cell(grid, rows, cols, x, y)


def cell_centre(analysis: Analysis, node_id: str, cell: tuple[int, int]) -> tuple[float, float]:
    """(x, y) of the cell's centre in analysed pixels."""
    grid, _, _ = node_grid(analysis, node_id)
    return grid.start_x + cell[1] * grid.jump, grid.start_y + cell[0] * grid.jump


@dataclass(frozen=True)
class Field:
    """A cell's theoretical receptive field through one path of the graph (node ids, input first),
    in analysed pixels: a square of `size` (math.inf through a global pooling) centred at (x, y)."""

    path: tuple[str, ...]
    size: float
    x: float
    y: float

    @property
    def whole(self) -> bool:
        """Through a global pooling: every pixel of the picture."""
        return math.isinf(self.size)

    def box(self, width: int, height: int) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in analysed pixels; a whole-picture field is the picture's
        `width`×`height` (pixel edges)."""
        if self.whole:
            return -0.5, -0.5, width - 0.5, height - 0.5
        half = self.size / 2
        return self.x - half, self.y - half, self.x + half, self.y + half

    def contains(self, x: float, y: float, width: int, height: int) -> bool:
        left, top, right, bottom = self.box(width, height)
        return left <= x <= right and top <= y <= bottom


def _base(analysis: Analysis, axis: str) -> dict[str, rfm.RF]:
    """Receptive fields of the neck's inputs along one axis ("y" as `base_receptive_fields`)."""
    base: dict[str, rfm.RF] = {}
    for name in analysis.topology.inputs:
        grid = analysis.backbone.grids.get(name)
        base[name] = rfm.PIXELS if grid is None else rfm.RF(grid.rf_size, grid.jump, getattr(grid, f"start_{axis}"))
    return base


# Path fields by graph structure and input fields: NAS-FPN's deepest nodes take a second to trace
# (a thousand distinct paths), so a second click on the same neck and picture size finds them here.
_paths: LRU[Hashable, list[rfm.PathRF]] = LRU(64, idle=IDLE_S)


def path_fields(analysis: Analysis, node_id: str, axis: str = "y") -> list[rfm.PathRF]:
    """The node's receptive fields through each distinct path along one axis: what
    `Topology.receptive_fields` gives for the node (narrowest first), from the graph of its ancestors."""
    topology = analysis.topology
    ancestors = nx.ancestors(topology.graph(), node_id) | {node_id}
    order = [n for n in topology.order if n in ancestors]
    edges = {n: [(e.source, e.layers) for e in topology.node(n).inputs] for n in order}
    base = {name: rf for name, rf in _base(analysis, axis).items() if name in ancestors}
    key = (node_id, tuple((n, tuple((s, tuple(ls)) for s, ls in edges[n])) for n in order), tuple(base.items()))
    return _paths.get_or_make(key, lambda: rfm.node_receptive_fields(order, edges, base)[node_id])


def _along(analysis: Analysis, path: Sequence[str], axis: str) -> rfm.RF:
    """The receptive field along one axis through a given path (the first edge from each source)."""
    rf = _base(analysis, axis)[path[0]]
    for source, node in zip(path, path[1:]):
        edge = next(e for e in analysis.topology.node(node).inputs if e.source == source)
        rf = rfm.through(edge.layers, rf)
    return rf


def cell_fields(analysis: Analysis, node_id: str, cell: tuple[int, int]) -> list[Field]:
    """The cell's theoretical receptive field through every distinct path to the inputs (those of
    `Topology.receptive_fields`, narrowest first). The distinct paths are those along the height;
    each one's centre along the width follows the same path."""
    node_grid(analysis, node_id)  # NoCells for a node without cells
    i, j = cell
    across = {p.path: p.rf for p in path_fields(analysis, node_id, "x")}
    fields = []
    for down in path_fields(analysis, node_id, "y"):
        rx = across.get(down.path) or _along(analysis, down.path, "x")
        fields.append(Field(down.path, down.rf.size, rx.centre(j), down.rf.centre(i)))
    return fields


def chosen_fields(fields: Sequence[Field], limit: int = 8) -> list[Field]:
    """At most `limit` of a cell's fields to draw, narrowest first: all of them when they fit; else
    one path per distinct size (the first of each), and where sizes are fewer than `limit`, the
    other paths in order; where they are more, the narrowest and widest of them from each input
    first, then sizes evenly spread between."""
    if len(fields) <= limit:
        return list(fields)
    sizes = list({f.size: f for f in reversed(fields)}.values())[::-1]  # the first of each size
    if len(sizes) <= limit:
        others = [f for f in fields if f not in sizes][:limit - len(sizes)]
        return [f for f in fields if f in sizes or f in others]
    n = len(sizes)
    picked: list[int] = [0, n - 1]
    for source in dict.fromkeys(f.path[0] for f in sizes):
        ranks = [k for k, f in enumerate(sizes) if f.path[0] == source]
        picked += [ranks[0], ranks[-1]]
    picked += [round(k * (n - 1) / (limit - 1)) for k in range(limit)]
    kept = list(dict.fromkeys(picked))[:limit]
    return [sizes[k] for k in sorted(kept)]


@dataclass(frozen=True)
class Activation:
    """A cell's activation: its C values summed up (the mean the step's map shows, the strongest
    channels by |value|), the range of the node's mean map, and the share of cells whose mean is
    lower than this one's."""

    mean: float
    channels: int
    top: tuple[tuple[int, float], ...]  # (channel, value), largest |value| first
    low: float
    high: float
    below: float


def activation(analysis: Analysis, node_id: str, cell: tuple[int, int], top: int = 8) -> Activation:
    node_grid(analysis, node_id)  # NoCells for a node without cells
    x = analysis.trace[node_id][0].float()
    values = x[:, cell[0], cell[1]]
    order = values.abs().argsort(descending=True)[:top].tolist()
    means = x.mean(dim=0)
    mean = float(values.mean())
    return Activation(mean, int(values.numel()), tuple((c, float(values[c])) for c in order),
                      float(means.min()), float(means.max()), float((means < mean).float().mean()))

