"""One step of a neck's step-through: the node's feature map on the picture, its strongest channels,
what the step does in words, and the table of every node."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from matplotlib.figure import Figure

from necklab.graph.steps import Steps, dilated_taps, dilation_rates
from necklab.graph.topology import Node, Note, Op
from necklab.i18n import t
from necklab.lab.analysis import Analysis, CellGrid
from necklab.lab.imaging import Picture
from necklab.lab.shape_rules import sized_edge_label
from necklab.lab.words import cell_name_words, note_words, op_name
from necklab.viz.maps import (
    CHANNEL_CMAP,
    HEATMAP_CMAP,
    LABEL_SIZE,
    SHEET_WIDTH,
    TITLE_SIZE,
    mean_map,
    original_extent,
    picture_tile,
    set_map,
    show_picture,
    strongest,
)
from necklab.viz.sheet import GAP, Sheet, Tile, map_tile


def node_table_headers(lang: str = "en") -> list[str]:
    return t("neck.headers", lang).split("|")


NODE_TABLE_HEADERS = node_table_headers()


def _stride(analysis: Analysis, node_id: str) -> int | None:
    level = analysis.topology.node(node_id).level
    return 2 ** level if level is not None else None


def node_table(analysis: Analysis, lang: str = "en") -> list[list]:
    """One row per node in execution order."""
    rows = []
    for k, node in enumerate(analysis.topology.nodes):
        t = analysis.trace[node.id]
        c, h, w = (list(t.shape[1:]) + [1, 1])[:3]
        inputs = ", ".join(f"{e.source} ({sized_edge_label(analysis, node, e, lang)})" for e in node.inputs) or "—"
        rows.append([k, node.id, op_name(node.op, lang), inputs, _stride(analysis, node.id) or "—", c, h, w,
                     analysis.node_params.get(node.id, 0)])
    return rows


@dataclass(frozen=True)
class Dilation:
    """A dilated 3×3 conv on its input map: the rate (= its padding), the map's H×W, and in words
    how many of its 9 taps land on the map at the map's centre."""

    rate: int
    hw: str
    coverage: str


def dilation(analysis: Analysis, node: Node, lang: str = "en") -> Dilation | None:
    """The dilation of a conv node whose taps are spread apart; None for any other node."""
    rates = dilation_rates(node)
    if node.op is not Op.CONV or not rates:
        return None
    _, h, w = analysis.trace[node.inputs[0].source].shape[1:]
    inside = dilated_taps(h, w, rates[0])
    coverage = "all" if inside == 9 else "centre" if inside == 1 else "some"
    hw = f"{h}×{w}"
    return Dilation(rates[0], hw, t(f"lesson.dilated.{coverage}", lang, hw=hw, inside=inside, r=rates[0],
                                    s=2 * rates[0] + 1))


def _shape(analysis: Analysis, node_id: str) -> str:
    return "×".join(str(d) for d in analysis.trace[node_id].shape[1:])


def _headline(analysis: Analysis, node_id: str, lang: str) -> dict[str, str]:
    """A node's op in words, its shape and its stride (', stride 8', or nothing for a vector), as
    a step's title shows them."""
    node = analysis.topology.node(node_id)
    stride = t("step.stride", lang, stride=_stride(analysis, node_id)) if node.level is not None else ""
    return dict(node=node_id, op=op_name(node.op, lang), shape=_shape(analysis, node_id), stride=stride)


def narration(analysis: Analysis, node_id: str, lang: str = "en", steps: Steps | None = None) -> str:
    """Markdown for one step: what the node is, how it was made, its shape and value range. Its
    number is the node's step in `steps` (default: one step per node)."""
    node = analysis.topology.node(node_id)
    values = analysis.trace[node_id]
    steps = Steps.of(analysis.topology, every=True) if steps is None else steps
    lines = [t("step.title", lang, k=steps.index(node_id), last=steps.last, **_headline(analysis, node_id, lang))]
    if node.note:
        lines.append(note_text(node.note, lang))
    spread = dilation(analysis, node, lang)
    if spread is not None:
        lines.append(t("step.dilated", lang, r=spread.rate, hw=spread.hw, coverage=spread.coverage))
    decoded = cell_name_words(analysis.topology, node_id, lang)
    if decoded:
        lines.append(decoded)
    if node.inputs:
        inputs = t("step.sep", lang).join(
            t("step.via", lang, source=e.source, op=sized_edge_label(analysis, node, e, lang)) for e in node.inputs)
        lines.append(t("step.inputs", lang, inputs=inputs))
    std, mean = torch.std_mean(values)  # two passes over the map, not four: a step computes them
    low, high = torch.aminmax(values)
    lines.append(t("step.stats", lang, params=f"{analysis.node_params.get(node_id, 0):,}",
                   mean=f"{float(mean):.3g}", std=f"{float(std) if values.numel() > 1 else 0.0:.3g}",
                   min=f"{float(low):.3g}", max=f"{float(high):.3g}"))
    return "\n\n".join(lines)


def opening_narration(analysis: Analysis, nodes: Sequence[str], lang: str = "en",
                      steps: Steps | None = None) -> str:
    """Markdown for the step that shows the pyramid a neck starts from: one line per map."""
    steps = Steps.of(analysis.topology) if steps is None else steps
    rows = [t("step.opening_row", lang, **_headline(analysis, node, lang)) for node in nodes]
    return "\n\n".join([t("step.opening_title", lang, k=steps.index(nodes[0]), last=steps.last, n=len(nodes)),
                         "\n".join(rows)])


def note_text(note: Note, lang: str = "en") -> str:
    """A node's note as a sentence in `lang`."""
    text = note_words(note, lang)
    return t("step.note", lang, note=text[0].upper() + text[1:])


def _cell_grid(analysis: Analysis, node_id: str, shape: tuple[int, int]) -> CellGrid | None:
    """The node's cell grid on the picture, or None for maps not on a pyramid grid (pooled bins)."""
    node = analysis.topology.node(node_id)
    if node.level is None or node.level < 1:
        return None
    grid = analysis.grid(node.level)
    return grid if shape != (1, 1) else None


def vector_figure(analysis: Analysis, node_id: str, lang: str = "en") -> Figure:
    """A pooled vector's values as bars over their index."""
    node = analysis.topology.node(node_id)
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    ax = fig.add_subplot()
    values = analysis.trace[node_id].float().reshape(-1).numpy()
    ax.fill_between(np.arange(values.size), values, step="mid", color="#0072B2")
    ax.set_xlabel(t("step.vector_index", lang), fontsize=LABEL_SIZE)
    ax.set_ylabel(t("step.value", lang), fontsize=LABEL_SIZE)
    ax.set_title(t("step.vector_title", lang, node=node_id, op=op_name(node.op, lang), n=values.size),
                 fontsize=TITLE_SIZE)
    return fig


def shown_channels(analysis: Analysis, node_id: str, channels: int = 4) -> int:
    """How many of a map's strongest channels its step figure shows."""
    return min(channels, analysis.trace[node_id].shape[1])


def on_picture(analysis: Analysis, node_id: str) -> bool:
    """Whether a node's map is drawn on the picture (through its cell grid), not on its own cells."""
    h, w = analysis.trace[node_id].shape[-2:]
    return _cell_grid(analysis, node_id, (h, w)) is not None


class StepFrame:
    """The figure of a step with a C×H×W map (what packs save), in fixed positions (no layout
    engine): the mean map over the picture (or over its cells, for maps not on a pyramid grid) with
    its colour bar, beside the `channels` strongest channels. `show(analysis, node)` puts a node's
    maps and words in its artists."""

    def __init__(self, picture: Picture | None, channels: int, lang: str = "en") -> None:
        self.picture, self.lang = picture, lang
        self.fig = fig = Figure(figsize=(12.5, 4.6))
        self.ax = ax = fig.add_axes((0.06, 0.12, 0.36, 0.72))
        cax = fig.add_axes((0.43, 0.12, 0.012, 0.72))
        if picture is not None:
            show_picture(ax, picture, lang)
            self.mean = ax.imshow(np.zeros((1, 1)), cmap=HEATMAP_CMAP, alpha=0.6, interpolation="nearest")
        else:
            self.mean = ax.imshow(np.zeros((1, 1)), cmap=HEATMAP_CMAP, interpolation="nearest")
        bar = fig.colorbar(self.mean, cax=cax)
        bar.set_label(t("step.mean_activation", lang), fontsize=LABEL_SIZE - 1)
        cols = (channels + 1) // 2
        width = 0.44 / max(cols, 1)
        self.channels = []
        for i in range(channels):
            row, col = i % 2, i // 2
            panel = fig.add_axes((0.53 + col * width, 0.5 - row * 0.42, width * 0.9, 0.34))
            self.channels.append(panel.imshow(np.zeros((1, 1)), cmap=CHANNEL_CMAP, interpolation="nearest",
                                              aspect="auto"))
            panel.set_xticks([])
            panel.set_yticks([])
        self.title = fig.suptitle(" ", fontsize=TITLE_SIZE)

    def show(self, analysis: Analysis, node_id: str) -> Figure:
        """Put the node's mean map, strongest channels and words in the frame; returns its figure."""
        x = analysis.trace[node_id].float()
        lang, c, (h, w) = self.lang, x.shape[1], x.shape[-2:]
        values = mean_map(x)
        if self.picture is not None:
            grid = _cell_grid(analysis, node_id, (h, w))
            assert grid is not None, f"{node_id} is not on the picture"
            set_map(self.mean, values, original_extent(self.picture, grid, h, w))
            self.ax.set_title(t("step.mean_on_picture", lang, c=c), fontsize=LABEL_SIZE + 1)
        else:
            set_map(self.mean, values)
            self.ax.set_title(t("step.mean_cells", lang, c=c, h=h, w=w), fontsize=LABEL_SIZE + 1)
        for im, ch in zip(self.channels, strongest(x, len(self.channels))):
            set_map(im, x[0, ch].numpy())
            im.axes.set_title(t("step.channel", lang, ch=ch), fontsize=LABEL_SIZE - 1)
        self.title.set_text(step_title(analysis, node_id, len(self.channels), lang))
        return self.fig


def step_title(analysis: Analysis, node_id: str, channels: int, lang: str = "en") -> str:
    node = analysis.topology.node(node_id)
    return t("step.suptitle", lang, node=node_id, op=op_name(node.op, lang), shape=_shape(analysis, node_id),
             k=channels)


MEAN_PX, CHANNEL_PX, NARROWEST = 200, 100, 110  # px: the mean map's height, a channel's; a tile's least width


def _width(height: int, h: int, w: int) -> int:
    """A tile's width for a map of h×w cells (or pixels) shown `height` px high, within limits."""
    return int(np.clip(round(height * w / h), NARROWEST, 2 * height))


def step_sheet(analysis: Analysis, node_id: str, channels: int = 4, lang: str = "en") -> Sheet:
    """A step's maps for the screen (`Sheet`; `step_figure` draws them for packs), in one row as wide
    as the step's box: the mean map (on the picture through its cell grid, or on its own cells),
    then its `channels` strongest channels."""
    x = analysis.trace[node_id].float()
    c, (h, w) = x.shape[1], x.shape[-2:]
    values, under = mean_map(x), t("step.mean_activation", lang)
    grid = _cell_grid(analysis, node_id, (h, w))
    if grid is not None:
        ow, oh = analysis.picture.original_size
        mean = picture_tile(analysis.picture, values, grid, _width(MEAN_PX, oh, ow),
                            t("step.mean_on_picture", lang, c=c), under=under)
    else:
        mean = map_tile(values, _width(MEAN_PX, h, w), HEATMAP_CMAP, t("step.mean_cells", lang, c=c, h=h, w=w),
                        under=under)
    shown = [[map_tile(x[0, ch].numpy(), _width(CHANNEL_PX, h, w), CHANNEL_CMAP, t("step.channel", lang, ch=ch))]
             for ch in strongest(x, shown_channels(analysis, node_id, channels))]
    return Sheet([[[mean], *shown]], title=step_title(analysis, node_id, len(shown), lang))


def step_figure(analysis: Analysis, node_id: str, channels: int = 4, lang: str = "en") -> Figure:
    """The node's mean map over the picture (aligned through its cell grid) beside its `channels`
    strongest channels (`StepFrame`); a pooled vector is drawn as bars."""
    if analysis.trace[node_id].dim() != 4:
        return vector_figure(analysis, node_id, lang)
    picture = analysis.picture if on_picture(analysis, node_id) else None
    return StepFrame(picture, shown_channels(analysis, node_id, channels), lang).show(analysis, node_id)


def opening_sheet(analysis: Analysis, nodes: Sequence[str], lang: str = "en") -> Sheet:
    """The maps of the step that shows the pyramid a neck starts from (`Sheet`): the backbone's
    levels in the top row, what is made from them (laterals, extra levels) below, each its mean over
    channels on the picture, titled with its id and shape."""
    rows = [[n for n in nodes if analysis.topology.node(n).is_input],
            [n for n in nodes if not analysis.topology.node(n).is_input]]
    rows = [row for row in rows if row]
    cols = max(len(row) for row in rows)
    width = int(np.clip((SHEET_WIDTH - GAP * (cols + 1)) // cols, 150, 320))
    return Sheet([[[_pyramid_tile(analysis, node, width)] for node in row] for row in rows],
                 title=t("step.opening_suptitle", lang, n=len(nodes)))


def _pyramid_tile(analysis: Analysis, node: str, width: int) -> Tile:
    x = analysis.trace[node].float()
    values, title = mean_map(x), f"{node} · {_shape(analysis, node)}"
    h, w = x.shape[-2:]
    grid = _cell_grid(analysis, node, (h, w))
    if grid is not None:
        return picture_tile(analysis.picture, values, grid, width, title)
    return map_tile(values, width, HEATMAP_CMAP, title)
