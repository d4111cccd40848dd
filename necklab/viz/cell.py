"""What does this cell see? For one cell of any node's map: its theoretical receptive field through
each distinct path of the graph as boxes on the picture (a legend names each path and its size in
px), its effective receptive field, and its activation; plus the picture to click, with the node's
map on it.

The pieces every click view shares live here: the clicked cell's outline and the ERF's local mean
(ASPP's taps and ERF figures draw with them too).

Extension point: a detection head (trained weights) adds its response at the cell as an extra
panel — `add_cell_panel(maker)`, where `maker(analysis, node, cell, lang)` returns a `CellPanel`
(its title and how to draw it on an Axes in the uploaded picture's pixels) or None when it has
nothing to show for that analysis. Until one does, the figure says where the response will go.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from necklab.i18n import t
from necklab.lab.analysis import Analysis, CellGrid
from necklab.lab.cell import Activation, Field, cell_centre, chosen_fields, node_grid
from necklab.lab.erf import mass_area
from necklab.lab.imaging import Picture
from necklab.lab.words import weights_words
from necklab.viz.graph import OKABE_ITO
from necklab.viz.maps import HEATMAP_CMAP, LABEL_SIZE, TITLE_SIZE, mean_map, show_picture, to_original

CELL = "white"  # the clicked cell, with a black halo (readable on photos and on viridis)
HALO = [patheffects.withStroke(linewidth=4, foreground="black")]
ERF_WINDOW = 9  # px: the effective receptive field is drawn as its local mean over this window
# One colour per drawn path (no grey: it vanishes on photos), each edge with a thin black halo.
PATH_COLOURS = [c for c in OKABE_ITO if c != "#999999"] + ["#FFFFFF"]
PATH_HALO = [patheffects.withStroke(linewidth=3.6, foreground="black")]
MAX_PATHS = len(PATH_COLOURS)
PICK_SIDE = 480  # px: a small picture is enlarged by a whole factor to about this for clicking
PATH_NODES = 5  # a longer path is named by its two first and two last nodes


def mark_cell(ax: Axes, picture: Picture, grid: CellGrid, cell: tuple[int, int]) -> None:
    """Outline a cell (one jump square around its centre) on a picture panel in original pixels."""
    x0, y0 = to_original(picture, grid.start_x + (cell[1] - 0.5) * grid.jump,
                         grid.start_y + (cell[0] - 0.5) * grid.jump)
    x1, y1 = to_original(picture, grid.start_x + (cell[1] + 0.5) * grid.jump,
                         grid.start_y + (cell[0] + 0.5) * grid.jump)
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=CELL, linewidth=2,
                           path_effects=HALO, zorder=3.5))


def local_mean(values: np.ndarray, window: int = ERF_WINDOW) -> np.ndarray:
    """Mean over a window×window neighbourhood (borders average what is inside): a per-pixel gradient
    is speckle, its local mean shows where the mass lies."""
    x = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None, None]
    return F.avg_pool2d(x, window, stride=1, padding=window // 2, count_include_pad=False)[0, 0].numpy()


def original_box(picture: Picture, field: Field) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of a field in the uploaded picture's pixels."""
    w, h = picture.size
    left, top, right, bottom = field.box(w, h)
    x0, y0 = to_original(picture, left, top)
    x1, y1 = to_original(picture, right, bottom)
    return x0, y0, x1, y1


@dataclass(frozen=True)
class CellPanel:
    """An extra panel of the cell view: its title, and how to draw on an Axes that shows the
    uploaded picture (original pixels)."""

    title: str
    draw: Callable[[Axes], None]


CellPanelMaker = Callable[[Analysis, str, tuple[int, int], str], "CellPanel | None"]
CELL_PANELS: list[CellPanelMaker] = []


def add_cell_panel(maker: CellPanelMaker) -> CellPanelMaker:
    """Register a maker of an extra panel (e.g. a detection head's response at the cell, once
    trained weights exist); it returns None where it has nothing to show."""
    CELL_PANELS.append(maker)
    return maker


def extra_panels(analysis: Analysis, node_id: str, cell: tuple[int, int], lang: str = "en") -> list[CellPanel]:
    """The registered makers' panels for this cell (those that have one)."""
    return [panel for maker in CELL_PANELS if (panel := maker(analysis, node_id, cell, lang)) is not None]


def path_words(path: Sequence[str], lang: str = "en") -> str:
    """A path's nodes joined by arrows; a long one by its two first and two last nodes."""
    if len(path) <= PATH_NODES:
        return " → ".join(path)
    return " → ".join([*path[:2], t("cell.more", lang, n=len(path) - 4), *path[-2:]])


def size_words(picture: Picture, field: Field, lang: str = "en") -> str:
    """A field's size in the uploaded picture's pixels (w×h px), or the whole picture."""
    if field.whole:
        return t("cell.whole", lang)
    sx, sy = picture.scale_xy
    return t("cell.size", lang, w=f"{field.size / sx:,.0f}", h=f"{field.size / sy:,.0f}")


def _stride(analysis: Analysis, node_id: str) -> int:
    level = analysis.topology.node(node_id).level
    assert level is not None  # a node with cells
    return 2 ** level


def _headline(analysis: Analysis, node_id: str, cell: tuple[int, int], lang: str) -> str:
    x, y = to_original(analysis.picture, *cell_centre(analysis, node_id, cell))
    shape = "×".join(map(str, analysis.trace[node_id].shape[1:]))
    return t("cell.suptitle", lang, node=node_id, cell=f"({cell[0]}, {cell[1]})", shape=shape,
             stride=_stride(analysis, node_id), x=f"{x:,.0f}", y=f"{y:,.0f}")


def _fields_panel(ax: Axes, analysis: Analysis, node_id: str, cell: tuple[int, int], fields: Sequence[Field],
                  shown: Sequence[Field], lang: str) -> list[Line2D]:
    """The picture with each shown path's field as a box; the legend's handles."""
    picture = analysis.picture
    w, h = picture.original_size
    show_picture(ax, picture, lang)
    ax.set_facecolor("#E8E8E8")
    # The view holds the picture and the boxes, up to half the picture beyond each side; the legend
    # says which boxes reach past it (their size is there).
    boxes = [original_box(picture, field) for field in shown]
    lefts, tops, rights, bottoms = zip(*boxes) if boxes else ((-0.5,), (-0.5,), (w - 0.5,), (h - 0.5,))
    x0, x1 = max(min(-0.5, *lefts), -0.5 - w / 2), min(max(w - 0.5, *rights), w - 0.5 + w / 2)
    y0, y1 = max(min(-0.5, *tops), -0.5 - h / 2), min(max(h - 0.5, *bottoms), h - 0.5 + h / 2)
    rim = 0.02 * max(x1 - x0, y1 - y0)
    x0, x1, y0, y1 = x0 - rim, x1 + rim, y0 - rim, y1 + rim
    handles = []
    for k, (field, (left, top, right, bottom)) in enumerate(zip(shown, boxes)):
        colour = PATH_COLOURS[k % len(PATH_COLOURS)]
        ax.add_patch(Rectangle((left, top), right - left, bottom - top, fill=False, edgecolor=colour, linewidth=2,
                               path_effects=PATH_HALO, zorder=3, gid=f"field-{k}"))
        label = t("cell.path", lang, path=path_words(field.path, lang), size=size_words(picture, field, lang))
        if left < x0 or top < y0 or right > x1 or bottom > y1:
            label += t("cell.beyond", lang)
        handles.append(Line2D([], [], color=colour, linewidth=2.4, path_effects=PATH_HALO, label=label))
    grid, _, _ = node_grid(analysis, node_id)
    mark_cell(ax, picture, grid, cell)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.set_aspect("equal")
    ax.set_title(t("cell.fields_title", lang, k=len(shown), n=f"{len(fields):,}"), fontsize=TITLE_SIZE - 1)
    return handles


def _erf_panel(ax: Axes, analysis: Analysis, node_id: str, cell: tuple[int, int], erf: np.ndarray,
               shown: Sequence[Field], lang: str) -> tuple[AxesImage, list[Line2D]]:
    """The effective receptive field on the picture, the narrowest and widest theoretical boxes
    dashed, the clicked cell and the gradient's peak; the colour image and the legend's handles."""
    picture = analysis.picture
    w, h = picture.original_size
    sx, sy = picture.scale_xy
    show_picture(ax, picture, lang)
    smooth = local_mean(erf)
    peak = float(smooth.max())
    image = ax.imshow(smooth / peak if peak > 0 else smooth, extent=(-0.5, w - 0.5, h - 0.5, -0.5),
                      cmap=HEATMAP_CMAP, norm=PowerNorm(0.5, vmin=0, vmax=1), alpha=0.75)
    handles = []
    ends = [(shown[0], (0, (1, 1.5)), "cell.narrowest"), (shown[-1], (0, (5, 2)), "cell.widest")] if shown else []
    for field, style, key in ends[: 1 if len(shown) == 1 else 2]:
        x0, y0, x1, y1 = original_box(picture, field)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="white", linewidth=1.6,
                               linestyle=style, zorder=3))
        handles.append(Line2D([], [], color="black", linewidth=1.6, linestyle=style, label=t(key, lang)))
    grid, _, _ = node_grid(analysis, node_id)
    mark_cell(ax, picture, grid, cell)
    py, px = np.unravel_index(int(erf.argmax()), erf.shape)
    ox, oy = to_original(picture, float(px), float(py))
    ax.plot([ox], [oy], marker="X", markersize=11, color="#D55E00", markeredgecolor="white", zorder=4)
    handles.append(Line2D([], [], marker="X", linestyle="", markersize=10, color="#D55E00",
                          markeredgecolor="white", label=t("cell.peak", lang)))
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    count, share = mass_area(erf)
    ax.set_title(t("cell.erf_title", lang, area=f"{count / (sx * sy):,.0f}", share=f"{share:.0%}"),
                 fontsize=TITLE_SIZE - 1)
    return image, handles


def _activation_panel(ax: Axes, act: Activation, lang: str) -> Line2D:
    """The strongest channels' values at the cell as bars, the mean over channels as a line."""
    channels = [t("cell.channel", lang, ch=c) for c, _ in act.top]
    values = [v for _, v in act.top]
    ax.barh(range(len(values)), values, color=["#0072B2" if v >= 0 else "#D55E00" for v in values])
    ax.set_yticks(range(len(values)), channels, fontsize=LABEL_SIZE - 2)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvline(act.mean, color="black", linestyle=(0, (4, 2)), linewidth=1.4)
    ax.set_xlabel(t("cell.value", lang), fontsize=LABEL_SIZE - 1)
    ax.tick_params(labelsize=LABEL_SIZE - 2)
    ax.set_title(t("cell.activation_title", lang, k=len(values), c=act.channels, mean=f"{act.mean:.3g}",
                   below=f"{act.below:.0%}", low=f"{act.low:.3g}", high=f"{act.high:.3g}"), fontsize=TITLE_SIZE - 1)
    return Line2D([], [], color="black", linestyle=(0, (4, 2)), linewidth=1.4,
                  label=t("cell.mean_line", lang, c=act.channels))


def cell_figure(analysis: Analysis, node_id: str, cell: tuple[int, int], fields: Sequence[Field],
                erf: np.ndarray, act: Activation, lang: str = "en",
                panels: Sequence[CellPanel] | None = None) -> Figure:
    """What one cell sees: its theoretical receptive field through each shown path (at most
    MAX_PATHS of `fields`, `chosen_fields`), its effective receptive field (`erf`, H×W on the analysed
    picture) and its activation, then any extra panels (default: the registered makers'); without
    one, a line says where a detection head's response will go."""
    if panels is None:
        panels = extra_panels(analysis, node_id, cell, lang)
    shown = chosen_fields(fields, MAX_PATHS)
    w, h = analysis.picture.original_size
    n = 3 + len(panels)
    panel_w = 4.6
    panel_h = min(max(panel_w * h / w, 2.6), 6.0) + 0.9
    fig = Figure(figsize=(n * panel_w + 0.4, panel_h + 2.2), layout="constrained")
    axes = fig.subplots(1, n, width_ratios=[1.15, 1.15, 0.8] + [1.0] * len(panels))
    path_handles = _fields_panel(axes[0], analysis, node_id, cell, fields, shown, lang)
    image, erf_handles = _erf_panel(axes[1], analysis, node_id, cell, erf, shown, lang)
    mean_handle = _activation_panel(axes[2], act, lang)
    for ax, panel in zip(axes[3:], panels):
        show_picture(ax, analysis.picture, lang)
        panel.draw(ax)
        ax.set_title(panel.title, fontsize=TITLE_SIZE - 1)
    bar = fig.colorbar(image, ax=axes[1], orientation="horizontal", shrink=0.85, aspect=30, pad=0.02)
    bar.set_label(t("cell.erf_bar", lang, window=ERF_WINDOW), fontsize=LABEL_SIZE - 2)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
    cell_handle = Patch(fill=False, edgecolor=CELL, linewidth=2, path_effects=HALO, label=t("cell.clicked", lang))
    fig.legend(handles=[cell_handle, *path_handles, *erf_handles, mean_handle], loc="outside lower center",
               ncols=2, fontsize=LABEL_SIZE - 2, frameon=False)
    title = _headline(analysis, node_id, cell, lang)
    if not panels:  # with a head's answers, its response is at the outputs' cells
        title += "\n" + (t("det.cell_outputs", lang, nodes=", ".join(analysis.outputs)) if analysis.answers is not None
                         else t("cell.detection_pending", lang, weights=weights_words(analysis.weights, lang)))
    fig.suptitle(title, fontsize=TITLE_SIZE)
    return fig


def picker_zoom(picture: Picture) -> int:
    """The whole factor the picture to click is enlarged by (a small picture is hard to click)."""
    return max(1, PICK_SIDE // max(picture.size))


def picker_point(picture: Picture, x: float, y: float) -> tuple[float, float]:
    """A click on the picture to click (its pixels) in analysed pixels."""
    zoom = picker_zoom(picture)
    return (x + 0.5) / zoom - 0.5, (y + 0.5) / zoom - 0.5


def picker_image(analysis: Analysis, node_id: str, cell: tuple[int, int] | None = None) -> np.ndarray:
    """The analysed picture (enlarged by `picker_zoom`) under the node's mean map, each pixel coloured
    by the cell nearest to it — the cell a click there names — with the cell borders drawn where
    cells are at least 6 px wide and `cell` outlined. H×W×3 uint8."""
    grid, rows, cols = node_grid(analysis, node_id)
    picture = analysis.picture
    zoom = picker_zoom(picture)
    h, w = picture.rgb.shape[:2]
    # Each pixel's cell, as `nearest_cell` names it for a click there (rint: Python's round, half to even).
    u_x = (np.arange(w * zoom) + 0.5) / zoom - 0.5
    u_y = (np.arange(h * zoom) + 0.5) / zoom - 0.5
    i = np.clip(np.rint((u_y - grid.start_y) / grid.jump), 0, rows - 1).astype(int)
    j = np.clip(np.rint((u_x - grid.start_x) / grid.jump), 0, cols - 1).astype(int)
    means = mean_map(analysis.trace[node_id])
    span = float(means.max() - means.min())
    normed = (means - means.min()) / span if span > 0 else np.zeros_like(means)
    colours = colormaps[HEATMAP_CMAP](normed)[..., :3] * 255
    base = np.repeat(np.repeat(picture.rgb.astype(np.float32), zoom, axis=0), zoom, axis=1)
    out = 0.45 * base + 0.55 * colours[i[:, None], j[None, :]]
    if grid.jump * zoom >= 6:
        edge_rows = np.flatnonzero(np.diff(i)) + 1
        edge_cols = np.flatnonzero(np.diff(j)) + 1
        out[edge_rows, :] = out[edge_rows, :] * 0.6
        out[:, edge_cols] = out[:, edge_cols] * 0.6
    if cell is not None:
        ys, xs = np.flatnonzero(i == cell[0]), np.flatnonzero(j == cell[1])
        if ys.size and xs.size:
            y0, y1, x0, x1 = ys[0], ys[-1], xs[0], xs[-1]
            thick = max(1, min(3, (y1 - y0) // 4, (x1 - x0) // 4))
            for colour, grow in (((0, 0, 0), thick), ((255, 255, 255), 0)):
                a, b = max(y0 - grow, 0), min(y1 + grow, out.shape[0] - 1)
                c, d = max(x0 - grow, 0), min(x1 + grow, out.shape[1] - 1)
                width = thick + grow
                out[a:a + width, c:d + 1] = colour
                out[b - width + 1:b + 1, c:d + 1] = colour
                out[a:b + 1, c:c + width] = colour
                out[a:b + 1, d - width + 1:d + 1] = colour
    return np.clip(out, 0, 255).astype(np.uint8)


def cell_note(analysis: Analysis, node_id: str, cell: tuple[int, int], fields: Sequence[Field],
              act: Activation, erf: np.ndarray, lang: str = "en") -> str:
    """Markdown beside the figure: the cell, every shown path in full with its size, the activation
    and the effective field's 95 % area."""
    picture = analysis.picture
    shown = chosen_fields(fields, MAX_PATHS)
    sx, sy = picture.scale_xy
    count, share = mass_area(erf)
    paths = "\n".join(f"{k + 1}. `{' → '.join(f.path)}` · {size_words(picture, f, lang)}"
                      for k, f in enumerate(shown))
    return "\n\n".join([
        f"**{_headline(analysis, node_id, cell, lang)}**",
        t("cell.note_paths", lang, k=len(shown), n=f"{len(fields):,}"), paths,
        t("cell.note_activation", lang, c=act.channels, mean=f"{act.mean:.3g}", below=f"{act.below:.0%}",
          top=", ".join(f"{c}: {v:.3g}" for c, v in act.top[:3])),
        t("cell.note_erf", lang, area=f"{count / (sx * sy):,.0f}", share=f"{share:.0%}")])


def no_cells_words(analysis: Analysis, node_id: str, lang: str = "en") -> str:
    """Why a node's map has no cells to click: a pooled vector, or bins that follow the picture."""
    x = analysis.trace[node_id]
    if x.dim() != 4:
        return t("cell.vector", lang, node=node_id, n=f"{x.numel():,}")
    return t("cell.bins", lang, node=node_id, h=x.shape[-2], w=x.shape[-1])
