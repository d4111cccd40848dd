"""The neck's graph: levels as rows (fine on top), execution order left to right, every edge
labelled with its op and every node with its shape; the current step and its inputs highlighted."""
from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from threading import Lock
from typing import Any, Literal, TypedDict

import networkx as nx
import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.transforms import Bbox
from torch import Tensor

from necklab.graph.topology import Op, Topology
from necklab.i18n import t
from necklab.lab.words import branch_words, edges_label, op_name
from necklab.viz import FONT_FAMILY
from necklab.viz.render import MAX_WIDTH_PX
from necklab.viz.slide import ASPECT, widest_design

# Okabe–Ito: distinguishable with every common colour-vision deficiency.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"]
INPUT_COLOUR = "#BBBBBB"
HIGHLIGHT = "#D55E00"
NODE_SIZE = 2600  # points², the area the arrows keep clear around a node's label


class EdgeStyle(TypedDict):
    """The keywords every edge drawing shares; `arrows` as the literal True, for which networkx's
    overloads say the drawing returns arrows (FancyArrowPatch)."""

    arrows: Literal[True]
    node_size: int


# Nodes are text boxes; node_size only tells the arrows where to stop short of them.
EDGE_STYLE: EdgeStyle = {"arrows": True, "node_size": NODE_SIZE}
BOX_PAD = 0.35  # of the font size, around a node's label
BEND = 0.06  # arc3 radius of the edges: a slight bow keeps edges along one row apart
EDGE_LABEL_LIMIT = 45  # above this many edges only the current step's edges are labelled
EDGE_COLOUR = "#8a8a8a"
EDGE_WIDTH = 1.2  # points


@dataclass(frozen=True)
class Look:
    """Sizes of the drawn words (points) and where the legend goes."""

    node: float
    edge: float
    rows: float
    legend: float
    title: float
    slide: bool = False  # 16:9, legend below, long graphs turned so that time runs down


# The app's graph is drawn at SCREEN_DPI on a grid of COLUMN × ROW inches: a 7-column neck comes out
# about as wide as the step area at 1280 px, so its words are shown near the size they are drawn.
SCREEN = Look(node=10, edge=9, rows=10, legend=9, title=12)
SCREEN_DPI = 100
COLUMN = 1.3  # inches between execution steps at least: a node's box (~0.95 in) and a gap
ROW = 0.72  # inches between rows: a two-line box (~0.4 in) and room for a label above or below an edge
CROWDED = 4  # edges per gap between columns above which the columns make room for whole labels
LABEL_PAD = 0.15  # of the font size, the white box around an edge label
SLIDE = Look(node=9, edge=8, rows=9, legend=9, title=11, slide=True)  # ≥ 18 px on a 1920 px slide
SLIDE_SIZE = (widest_design(SLIDE.edge), widest_design(SLIDE.edge) / ASPECT)


def arrow_size(width: float) -> float:
    """Arrow head size for an edge of `width` points: 12 at the default width, growing with it."""
    return 12 + 3 * (width - EDGE_WIDTH)


def op_colours(topology: Topology) -> dict[Op, str]:
    # In the order of the ops' English names, so a neck's colours are the same in every language.
    ops = sorted({n.op for n in topology.nodes if not n.is_input}, key=lambda op: op_name(op, "en"))
    colours = {op: OKABE_ITO[i % (len(OKABE_ITO) - 1)] for i, op in enumerate(ops)}
    colours[Op.INPUT] = INPUT_COLOUR
    return colours


def layout(topology: Topology, nodes: Collection[str] | None = None) -> dict[str, tuple[float, float]]:
    """Positions: x = one column right of the node's rightmost input (so execution flows left to
    right and independent nodes share a column), or further right where that place is taken, y = row.

    Rows are levels, finest on top; parallel branches (ASPP rates, SPP pools) get a row each under
    their level, and nodes without a level (pooled vectors) go below the pyramid.
    """
    shown = [n for n in topology.nodes if nodes is None or n.id in nodes]
    keys = sorted({(n.level if n.level is not None else 99, n.branch or "") for n in shown},
                  key=lambda k: (k[0], _first_index(shown, k)))
    row = {k: -i for i, k in enumerate(keys)}
    pos: dict[str, tuple[float, float]] = {}
    taken: set[tuple[float, float]] = set()
    for n in shown:
        y = row[(n.level if n.level is not None else 99, n.branch or "")]
        x = max((pos[e.source][0] + 1 for e in n.inputs if e.source in pos), default=0.0)
        while (x, float(y)) in taken:  # a node never hides another (ASFF's resized maps share a level)
            x += 1
        pos[n.id] = (x, float(y))
        taken.add(pos[n.id])
    return pos


def turned(pos: Mapping[str, tuple[float, float]]) -> bool:
    """Whether a slide draws this layout turned (levels as columns, time running down): when it has
    more than twice as many steps as rows, which left as is would be a thin strip on a 16:9 slide."""
    return len({x for x, _ in pos.values()}) > 2 * len({y for _, y in pos.values()})


def slide_turned(topology: Topology, nodes: Collection[str] | None = None) -> bool:
    return turned(layout(topology, nodes))


def _first_index(nodes: list, key: tuple) -> int:
    return next(i for i, n in enumerate(nodes) if (n.level if n.level is not None else 99, n.branch or "") == key)


def row_labels(topology: Topology, pos: Mapping[str, tuple[float, float]], lang: str = "en") -> dict[float, str]:
    labels: dict[float, str] = {}
    for node_id, (_, y) in pos.items():
        n = topology.node(node_id)
        level = (t("graph.level_row", lang, level=n.level, stride=2 ** n.level) if n.level is not None
                 else t("graph.vector_row", lang))
        labels.setdefault(y, f"{level} · {branch_words(n.branch, lang)}" if n.branch else level)
    return labels


def shape_text(t: Tensor | Sequence[int]) -> str:
    """C×H×W of a batch-1 tensor or of its shape."""
    shape = t.shape if isinstance(t, Tensor) else t
    return "×".join(str(d) for d in shape[1:])


class GraphPicture:
    """A neck's (sub)graph drawn once; each step then only draws its highlight — the current node
    and the edges that produced it — over the saved background, so stepping stays cheap.

    `nodes` limits the drawing to a subgraph (all nodes by default); `shapes` maps node ids to
    their tensors for the C×H×W labels. Data drawn on the edges (BiFPN's fusion weights):
    `edge_widths` and `edge_labels` replace the width and the op label of the (source, target)
    edges they name, `edge_bends` their arc radius (e.g. to bow a skip edge away from a parallel
    one), and `width_key` (label → width) adds a legend of widths in place of the highlight's entry.
    `stepping=False` leaves the highlight out of the legend, for a graph drawn without a step.
    `lang` is the language of the drawn words.
    """

    def __init__(self, topology: Topology, shapes: Mapping[str, Tensor | Sequence[int]],
                 nodes: Collection[str] | None = None, title: str = "", dpi: float | None = None,
                 edge_widths: Mapping[tuple[str, str], float] | None = None,
                 edge_labels: Mapping[tuple[str, str], str] | None = None,
                 edge_bends: Mapping[tuple[str, str], float] | None = None,
                 width_key: Mapping[str, float] | None = None, stepping: bool = True, lang: str = "en",
                 slide: bool = False) -> None:
        g = topology.graph()
        if nodes is not None:
            g = g.subgraph(nodes).copy()
        self.g, self.shapes, self.lang = g, shapes, lang
        self.look = look = SLIDE if slide else SCREEN
        self.title = title or t("graph.title", lang, name=topology.name)
        self.widths, self.labels, self.bends = dict(edge_widths or {}), dict(edge_labels or {}), dict(edge_bends or {})
        pos = layout(topology, g.nodes)
        rows = row_labels(topology, pos, lang)
        self.turned = slide and turned(pos)
        if self.turned:  # levels become columns (fine on the left), execution runs top to bottom
            pos = {n: (-y, -x) for n, (x, y) in pos.items()}
            rows = {-y: label for y, label in rows.items()}
        self.pos = pos
        self.colours = op_colours(topology)
        xs = [p[0] for p in pos.values()]
        ys = [p[1] for p in pos.values()]
        if slide:
            width, height = SLIDE_SIZE
            # margins (inches): left for the row labels or the time axis, top for the title (and the
            # level labels of a turned graph), bottom for the legend
            left, right, top, bottom = (0.5, 0.2, 0.7, 0.6) if self.turned else (1.5, 0.2, 0.5, 1.1)
        else:
            left, right, top, bottom = 1.45, 1.9, 0.4, 0.35
            width, height = 8.0, ROW * (max(ys) - min(ys) + 1.2) + top + bottom  # the width follows the boxes
        dpi = dpi or (110 if slide else SCREEN_DPI)
        # Fixed margins (inches → fractions) for the row labels and the legend: a layout engine
        # would cost more than the drawing.
        self.fig = fig = Figure(figsize=(width, height), dpi=min(dpi, MAX_WIDTH_PX / width))
        self.ax = ax = fig.add_axes((0, 0, 1, 1))
        self.canvas = FigureCanvasAgg(fig)
        self.boxes = {n: self._node(n, current=False) for n in g.nodes}
        if not slide:  # a column per step, as wide as the widest box (when bold) and a gap for arrows
            renderer = self.canvas.get_renderer()
            widest = max(self._bold_extent(box, renderer).width for box in self.boxes.values()) / fig.dpi
            column = max(COLUMN, widest + 0.4)
            gaps = max(xs) - min(xs)
            if gaps and g.number_of_edges() > CROWDED * gaps:  # (ASFF) room for the labels side by side
                column = max(column, self._widest_label(renderer) + 0.3)
            width = max(8.0, column * (max(xs) - min(xs) + 1.2) + left + right)
            fig.set_size_inches(width, height)
            fig.set_dpi(min(dpi, MAX_WIDTH_PX / width))
            for u, v in g.edges:  # an edge along a row past another node's box bows over it
                (xu, yu), (xv, yv) = pos[u], pos[v]
                if yu == yv and any(y == yu and min(xu, xv) < x < max(xu, xv) for x, y in pos.values()):
                    self.bends.setdefault((u, v), -0.7 / (abs(xv - xu) * column))
        ax.set_position((left / width, bottom / height, 1 - (left + right) / width, 1 - (top + bottom) / height))
        # Node labels are text boxes outside the data limits: leave room for them explicitly.
        if slide:
            ax.set_xlim(min(xs) - 0.75, max(xs) + 0.75)
        else:  # the outer columns' boxes (and a narrow graph's 8-inch minimum) inside the limits
            pad_x = 0.6 + (width - left - right - column * (max(xs) - min(xs) + 1.2)) / column / 2
            ax.set_xlim(min(xs) - pad_x, max(xs) + pad_x)
        # a turned graph keeps half a label box (0.2 in) clear above its first row and below its last
        span, axes_height = max(ys) - min(ys), height - top - bottom
        pad_y = max(0.35, 0.2 * span / (axes_height - 0.4)) if self.turned else 0.6
        ax.set_ylim(min(ys) - pad_y, max(ys) + pad_y)
        self._clear: list[Bbox] | None = None  # where edge labels may not go (see _taken)
        self._edges(list(g.edges), EDGE_COLOUR)
        if g.number_of_edges() <= EDGE_LABEL_LIMIT:
            self._edge_labels(list(g.edges))
        self._legends(topology, width_key, stepping)
        if self.turned:
            ax.set_xticks(list(rows))
            ax.set_xticklabels(list(rows.values()), fontsize=look.rows)
            ax.tick_params(top=True, labeltop=True, bottom=False, labelbottom=False, left=False, labelleft=False)
            ax.set_ylabel(t("graph.execution_down", lang), fontsize=look.rows)
            hidden: tuple[str, ...] = ("top", "right", "bottom", "left")
        else:
            ax.set_yticks(list(rows))
            ax.set_yticklabels(list(rows.values()), fontsize=look.rows)
            ax.tick_params(left=True, labelleft=True, bottom=False, labelbottom=False)
            ax.set_xlabel(t("graph.execution_order", lang), fontsize=look.rows)
            hidden = ("top", "right", "bottom")
        for side in hidden:
            ax.spines[side].set_visible(False)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(fig.bbox)
        self.lock = Lock()

    def _legends(self, topology: Topology, width_key: Mapping[str, float] | None, stepping: bool) -> None:
        """The ops' colours (and the key of edge widths): right of the graph on screen, in a row
        under it on a slide."""
        ax, lang, size = self.ax, self.lang, self.look.legend
        title_size = size if self.look.slide else None  # the screen's legend titles keep matplotlib's size
        present = {self.g.nodes[n]["op"] for n in self.g.nodes}
        handles: list[Artist] = [Patch(color=c, label=op_name(op, lang)) for op, c in self.colours.items()
                                 if op in present]
        if width_key is None and stepping:
            handles.append(Line2D([], [], color=HIGHLIGHT, lw=3, label=t("graph.inputs_of_step", lang)))
        if self.look.slide:
            where: dict[str, Any] = dict(loc="upper left", bbox_to_anchor=(0.0, -0.03), ncol=len(handles))
            widths_where: dict[str, Any] = dict(loc="upper right", bbox_to_anchor=(1.0, -0.03),
                                                ncol=len(width_key or ()))
        else:
            where = dict(loc="upper left", bbox_to_anchor=(1.01, 1.0))
            widths_where = dict(loc="lower left", bbox_to_anchor=(1.01, 0.0))
        legend = ax.legend(handles=handles, fontsize=size, title=t("graph.node_op", lang), frameon=False,
                           title_fontsize=title_size, **where)
        if width_key is not None:
            ax.add_artist(legend)  # a second legend would replace the first
            ax.legend(handles=[Line2D([], [], color=EDGE_COLOUR, lw=w, label=text) for text, w in width_key.items()],
                      fontsize=size, title=t("graph.edge_width", lang), title_fontsize=title_size, frameon=False,
                      **widths_where)

    def _node(self, n: str, current: bool) -> Text:
        sep = " · " if self.turned else "\n"  # a turned graph's rows are tight, its columns wide
        text = f"{n}{sep}{shape_text(self.shapes[n])}" if n in self.shapes else n
        return self.ax.text(*self.pos[n], text, ha="center", va="center", fontsize=self.look.node, zorder=5,
                            fontweight="bold" if current else "normal",
                            bbox=dict(boxstyle=f"round,pad={BOX_PAD}", fc=self.colours[self.g.nodes[n]["op"]],
                                      ec="black" if current else "white", lw=3 if current else 1))

    def _by_bend(self, edges: list) -> dict[str, list]:
        """Edges grouped by their connection style (networkx takes one per call)."""
        groups: dict[str, list] = {}
        for e in edges:
            groups.setdefault(f"arc3,rad={self.bends.get(e, BEND)}", []).append(e)
        return groups

    def _edges(self, edges: list, colour: str, width: float | None = None) -> list:
        """Draw edges in their own widths (or all in `width`); returns the arrows."""
        arrows: list = []
        for style, group in self._by_bend(edges).items():
            widths = [width or self.widths.get(e, EDGE_WIDTH) for e in group]
            ends = self._ends(group) if self.look.slide else {}
            arrows += nx.draw_networkx_edges(self.g, self.pos, ax=self.ax, edgelist=group, edge_color=colour,
                                             width=widths, arrowsize=[arrow_size(w) for w in widths],
                                             connectionstyle=style, **{**EDGE_STYLE, **ends})
        return arrows

    def _ends(self, edges: list) -> dict:
        """Where a slide's arrows stop: at the edge of each end's label box along the edge (the
        screen's fixed circle would swallow the short edges between a turned graph's rows)."""
        renderer = self.canvas.get_renderer()
        to_points = 72 / self.fig.dpi

        def margin(node: str, towards: str) -> float:
            box = self.boxes[node].get_window_extent(renderer)
            pad = 2 * BOX_PAD * self.look.node / to_points  # both sides, in pixels
            (x0, y0), (x1, y1) = self.ax.transData.transform([self.pos[node], self.pos[towards]])
            dx, dy = abs(x1 - x0) or 1e-9, abs(y1 - y0) or 1e-9
            return min((box.width + pad) / 2 / dx, (box.height + pad) / 2 / dy) * np.hypot(dx, dy) * to_points + 2

        return {"node_size": 0, "min_source_margin": [margin(u, v) for u, v in edges],
                "min_target_margin": [margin(v, u) for u, v in edges]}

    def _edge_labels(self, edges: list) -> list:
        drawn: list = []
        for style, group in self._by_bend(edges).items():
            labels = {e: self.labels.get(e) or edges_label(self.g.edges[e]["edges"], self.lang) for e in group
                      if not all(edge.is_identity for edge in self.g.edges[e]["edges"])}
            if self.look.slide:
                drawn += [self._slide_label(e, text, edges) for e, text in labels.items()]
                continue
            drawn += [self._placed_label(e, text, float(style.rsplit("=", 1)[1])) for e, text in
                      sorted(labels.items(), key=lambda item: self._length(item[0]))]
        return drawn

    def _length(self, edge: tuple[str, str]) -> float:
        (x0, y0), (x1, y1) = self.ax.transData.transform([self.pos[edge[0]], self.pos[edge[1]]])
        return float(np.hypot(x1 - x0, y1 - y0))

    def _taken(self) -> list[Bbox]:
        """What edge labels must keep clear of on screen: every node's box at its widest and the
        labels placed so far."""
        if self._clear is None:
            renderer = self.canvas.get_renderer()
            self._clear = []
            self._clear = [self._bold_extent(box, renderer) for box in self.boxes.values()]
        return self._clear

    def _widest_label(self, renderer: Any) -> float:
        """The widest edge label (inches)."""
        widths = [0.0]
        for e in self.g.edges:
            text = self.labels.get(e) or edges_label(self.g.edges[e]["edges"], self.lang)
            probe = Text(text=text, fontsize=self.look.edge, family=FONT_FAMILY, figure=self.fig)
            widths.append(probe.get_window_extent(renderer).width / self.fig.dpi)
        return max(widths)

    def _bold_extent(self, box: Text, renderer: Any) -> Bbox:
        """A node's box as drawn when it is the step's node (bold, thick border: the widest it gets)."""
        box.set_fontweight("bold")
        extent = box.get_window_extent(renderer)
        box.set_fontweight("normal")
        return extent.padded(BOX_PAD * self.look.node * self.fig.dpi / 72 + 2)

    def _placed_label(self, edge: tuple[str, str], text: str, bend: float) -> Text:
        """An edge's label, level, at the first place near the middle of its drawn arc where it
        covers neither a node's box nor another label: along the arc, then stepped above and below
        it; inside the axes. Where no place is free (never at the registry's default configurations,
        tests/test_graph_labels.py), the place it overlaps least."""
        renderer = self.canvas.get_renderer()
        label = self.ax.text(0, 0, text, ha="center", va="center", fontsize=self.look.edge, zorder=4,
                             family=FONT_FAMILY,
                             bbox=dict(boxstyle=f"round,pad={LABEL_PAD}", fc="white", ec="none", alpha=0.85))
        pad = LABEL_PAD * self.look.edge * self.fig.dpi / 72 + 1
        size = label.get_window_extent(renderer).padded(pad)
        w, h = size.width, size.height
        (x0, y0), (x1, y1) = self.ax.transData.transform([self.pos[edge[0]], self.pos[edge[1]]])
        # matplotlib's arc3: the control point is the middle moved by `bend` times the chord, turned
        cx, cy = (x0 + x1) / 2 + bend * (y1 - y0), (y0 + y1) / 2 - bend * (x1 - x0)
        area = self.ax.get_window_extent(renderer)
        taken = self._taken()
        best: tuple[float, float, float] | None = None
        for shift in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, -5, 6, -6, 7, -7, 8, -8):
            for f in (0.5, 0.42, 0.58, 0.34, 0.66, 0.26, 0.74, 0.2, 0.8):  # how far along the arc
                x = (1 - f) ** 2 * x0 + 2 * (1 - f) * f * cx + f ** 2 * x1
                y = (1 - f) ** 2 * y0 + 2 * (1 - f) * f * cy + f ** 2 * y1 + shift * 0.35 * h
                box = Bbox.from_bounds(x - w / 2, y - h / 2, w, h)
                if box.x0 < area.x0 or box.x1 > area.x1 or box.y0 < area.y0 or box.y1 > area.y1:
                    continue
                covered = sum(_overlap_area(box, other) for other in taken)
                if best is None or covered < best[0]:
                    best = (covered, x, y)
                if covered == 0:
                    break
            if best is not None and best[0] == 0:
                break
        _, x, y = best if best is not None else (0.0, (x0 + x1) / 2, (y0 + y1) / 2)
        at = self.ax.transData.inverted().transform((x, y))
        label.set_position((float(at[0]), float(at[1])))
        taken.append(Bbox.from_bounds(x - w / 2, y - h / 2, w, h))
        return label

    def _middle(self, edge: tuple[str, str]) -> tuple[float, float]:
        (x0, y0), (x1, y1) = self.pos[edge[0]], self.pos[edge[1]]
        return (x0 + x1) / 2, (y0 + y1) / 2

    def _slide_label(self, edge: tuple[str, str], text: str, edges: list) -> Text:
        """An edge's label on a slide, level: beside an edge that runs straight along its column or
        row (there the label would hide the short arrow) — on the side where no slanted edge's label
        sits — and on the middle of any other."""
        (x0, y0), (x1, y1) = self.pos[edge[0]], self.pos[edge[1]]
        middle = self._middle(edge)
        style: dict[str, Any] = dict(fontsize=self.look.edge, zorder=4, family=FONT_FAMILY)
        if x0 == x1:
            slanted = [self._middle(e) for e in edges if len({self.pos[e[0]][0], self.pos[e[1]][0]}) == 2]
            right = not any(0 < x - x0 < 1 and abs(y - middle[1]) < 0.5 for x, y in slanted)
            return self.ax.annotate(text, middle, xytext=(5 if right else -5, 0), textcoords="offset points",
                                    ha="left" if right else "right", va="center", **style)
        if y0 == y1:
            return self.ax.annotate(text, middle, xytext=(0, 3), textcoords="offset points", ha="center",
                                    va="bottom", **style)
        return self.ax.text(*middle, text, ha="center", va="center", **style,
                            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))

    def _highlight(self, current: str | Collection[str] | None, title: str | None) -> list:
        """Add the step's artists: its incoming edges, its node(s), its edge labels, the title."""
        # on a slide the title tops the figure (a turned graph's level labels sit over its axes)
        if self.look.slide:
            y, transform, va = 0.98, self.fig.transFigure, "top"
        else:
            y, transform, va = 1.02, self.ax.transAxes, "bottom"
        artists: list = [self.ax.text(0.5, y, title or self.title, transform=transform, ha="center", va=va,
                                      fontsize=self.look.title)]
        nodes = [current] if isinstance(current, str) else list(current or ())
        nodes = [n for n in nodes if n in self.g]
        edges = [(u, n) for n in nodes for u in self.g.predecessors(n)]
        if edges:
            artists += self._edges(edges, HIGHLIGHT, width=3.2)
            if self.g.number_of_edges() > EDGE_LABEL_LIMIT:
                kept = len(self._taken())
                artists += self._edge_labels(edges)
                del self._taken()[kept:]  # the step's labels go with its highlight
        artists += [self._node(n, current=True) for n in nodes]
        return artists

    def image(self, current: str | Collection[str] | None, title: str | None = None) -> np.ndarray:
        """The graph with `current` (a node, or the nodes of a step) highlighted, as an H×W×3 uint8
        image."""
        with self.lock:
            self.canvas.restore_region(self.background)
            artists = self._highlight(current, title)
            for artist in artists:
                self.ax.draw_artist(artist)
            picture = np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
            for artist in artists:
                artist.remove()
            return picture

    def figure(self, current: str | None, title: str | None = None) -> Figure:
        """The graph with `current` highlighted as a figure (for export); use it once."""
        self._highlight(current, title)
        return self.fig


def _overlap_area(a: Bbox, b: Bbox) -> float:
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def focus_nodes(topology: Topology, node_id: str) -> list[str] | None:
    """For stacked necks (NAS-FPN stages, BiFPN cells, RFP passes) the nodes worth drawing at a
    step: the current node's stage and the nodes feeding it; the unstaged nodes (inputs, laterals)
    before the first stage. None (draw everything) for necks without stages."""
    stages = {n.stage for n in topology.nodes} - {None}
    if len(stages) < 2:
        return None
    stage = topology.node(node_id).stage
    members = [n for n in topology.nodes if n.stage == stage]
    shown = {n.id for n in members} | {e.source for n in members for e in n.inputs}
    return [n.id for n in topology.nodes if n.id in shown]
