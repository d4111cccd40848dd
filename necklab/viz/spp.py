"""The SPP lesson: SPP-net's bins on the feature map and on the picture, the fixed-length vector,
the window formulas against adaptive pooling, and YOLO's SPP against SPPF."""
from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence

import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.pyramid import level_of
from necklab.lab.spp_vs_sppf import SppComparison
from necklab.models.necks.spp import Bins, WindowRule, adaptive_bins, blog_formula, paper_formula
from necklab.viz.graph import OKABE_ITO
from necklab.viz.maps import (
    CHANNEL_CMAP,
    LABEL_SIZE,
    TITLE_SIZE,
    cell_edges,
    channel_energy,
    partition_edges,
    show_picture,
)

BIN_EDGE = "#D55E00"  # vermillion
NEIGHBOUR_EDGE = "#56B4E9"  # sky blue, dashed: neighbouring bins' edges stay visible where they overlap
WINNER = "#F0E442"  # yellow star with a black rim
BLOG = "#E69F00"
ADAPTIVE = "#0072B2"
REFUSED = "#D55E00"
PADDING = "#DDDDDD"
LEVEL_COLOURS = [OKABE_ITO[i] for i in (0, 4, 2, 5, 6, 1, 7)]  # Okabe–Ito without the pale yellow
OUTLINE = [patheffects.withStroke(linewidth=4.2, foreground="black")]  # edges readable on any background


def spp_levels(analysis: Analysis) -> list[tuple[str, int]]:
    """(node id, n) of every pyramid level of an SPP-net trace, in execution order."""
    return [(node, len(extras["bins"][0])) for node, extras in analysis.trace.extras.items() if "bins" in extras]


def _source(analysis: Analysis) -> tuple[str, int]:
    name = analysis.topology.inputs[0]
    return name, level_of(analysis.topology.node(name))


def _draw_bins(ax: Axes, edges: tuple[np.ndarray, np.ndarray], centres: tuple[np.ndarray, np.ndarray],
               bins: tuple[Bins, Bins], winners: list[tuple[int, int]] | None) -> None:
    """Outline bin (i, j) from edge [start] to edge [end] of its (row, column) cell ranges (a
    checkerboard of two styles, so overlapping neighbours stay visible) and star the centre of its
    winning cell (row, col). Edges and centres are per axis, in the panel's coordinates."""
    ys, xs = edges
    rows, cols = bins
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            neighbour = (i + j) % 2 == 1
            ax.add_patch(Rectangle((xs[c0], ys[r0]), xs[c1] - xs[c0], ys[r1] - ys[r0], fill=False,
                                   edgecolor=NEIGHBOUR_EDGE if neighbour else BIN_EDGE, linewidth=2.4,
                                   linestyle=(0, (4, 2)) if neighbour else "-", zorder=3 + neighbour,
                                   clip_on=False, path_effects=OUTLINE))
    if winners:
        r, c = np.array(winners).T
        ax.scatter(centres[1][c], centres[0][r], marker="*", s=260, c=WINNER, edgecolors="black",
                   linewidths=1.2, zorder=5, clip_on=False)


def _bin_text(bins: Bins) -> str:
    return " ".join(f"[{a},{b})" for a, b in bins)


def bins_figure(analysis: Analysis, channel: int | None = None, lang: str = "en") -> Figure:
    """SPP-net's n×n bins of every pyramid level, on one C5 channel (top) and on the picture (bottom).

    The bins are the exact adaptive cell ranges from the trace, and each bin's star is the cell
    whose value the max-pool keeps (the trace's argmax), so the picture shows where each number of
    the pooled vector comes from. `channel` defaults to the channel with the most energy.
    """
    source, level = _source(analysis)
    feature = analysis.trace[source]
    _, channels, height, width = feature.shape
    strongest = channel is None
    channel = int(channel_energy(feature).argmax()) if channel is None else channel
    if not 0 <= channel < channels:
        raise ValueError(f"channel must be in 0…{channels - 1}, got {channel}")
    values = feature[0, channel].numpy()
    levels = spp_levels(analysis)
    # On the map: cell k spans k ± ½. On the picture: bins end at edges that share the picture out
    # among the cells, and winners sit at their cells' true centres.
    map_centres = np.arange(height), np.arange(width)
    map_edges = np.arange(height + 1) - 0.5, np.arange(width + 1) - 0.5
    grid = analysis.grid(level)
    picture_edges = partition_edges(analysis.picture, grid, height, width)
    picture_centres = tuple((e[:-1] + e[1:]) / 2 for e in cell_edges(analysis.picture, grid, height, width))

    w, h = analysis.picture.original_size
    panel_w = 4.2 * min(1.6, max(0.8, width / height))
    fig = Figure(figsize=(panel_w * len(levels) + 1.6, 2 * panel_w * min(h / w, height / width) + 2.6),
                 layout="constrained")
    axes = fig.subplots(2, len(levels), squeeze=False)
    has_winners = False
    for (node, n), top, bottom in zip(levels, axes[0], axes[1]):
        extras = analysis.trace.extras[node]
        argmax = extras.get("argmax")
        winners = None
        if argmax is not None:
            winners = [divmod(int(k), width) for k in argmax[channel].flatten()]
            has_winners = True
        image = top.imshow(values, cmap=CHANNEL_CMAP, interpolation="nearest")
        _draw_bins(top, map_edges, map_centres, extras["bins"], winners)
        top.set_title(t("spp.bins_on_map", lang, n=n, source=source, h=height, w=width,
                        rows=_bin_text(extras["bins"][0]), cols=_bin_text(extras["bins"][1])), fontsize=LABEL_SIZE)
        top.set_xlabel(t("spp.column", lang, source=source), fontsize=LABEL_SIZE - 2)
        top.set_ylabel(t("spp.row", lang, source=source), fontsize=LABEL_SIZE - 2)
        top.tick_params(labelsize=LABEL_SIZE - 3)
        show_picture(bottom, analysis.picture, lang)
        _draw_bins(bottom, picture_edges, picture_centres, extras["bins"], winners)
        bottom.set_title(t("spp.bins_on_picture", lang, n=n), fontsize=LABEL_SIZE)
    bar = fig.colorbar(image, ax=list(axes[0]), shrink=0.85, pad=0.01)
    bar.set_label(t("spp.channel_activation", lang, channel=channel), fontsize=LABEL_SIZE - 2)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 3)

    handles = [Line2D([], [], color=BIN_EDGE, linewidth=2.4, label=t("spp.bin_edge", lang)),
               Line2D([], [], color=NEIGHBOUR_EDGE, linewidth=2.4, linestyle=(0, (4, 2)),
                      label=t("spp.neighbour_edge", lang))]
    if has_winners:
        handles.append(Line2D([], [], linestyle="", marker="*", markersize=16, markerfacecolor=WINNER,
                              markeredgecolor="black", label=t("spp.winner", lang)))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=LABEL_SIZE - 1,
               frameon=False)
    which = t("spp.strongest" if strongest else "spp.chosen", lang)
    fig.suptitle(t("spp.bins_suptitle", lang, source=source, channel=channel, which=which), fontsize=TITLE_SIZE + 1)
    return fig


def vector_figure(analyses: Sequence[Analysis], lang: str = "en") -> Figure:
    """The pooled vector of each analysis as a bar strip coloured by pyramid level, one row each, to
    show that pictures of different sizes give vectors of the same length (stated as computed)."""
    if not analyses:
        raise ValueError("vector_figure needs at least one analysis")
    fig = Figure(figsize=(13, 2.7 * len(analyses) + 1.3), layout="constrained")
    axes = fig.subplots(len(analyses), 1, squeeze=False)[:, 0]
    lengths = []
    for ax, analysis in zip(axes, analyses):
        source, _ = _source(analysis)
        _, channels, height, width = analysis.trace[source].shape
        vector = analysis.trace["vector"][0].numpy()
        levels = spp_levels(analysis)
        sizes = [analysis.trace[node][0].numel() for node, _ in levels]
        if sum(sizes) != vector.size:
            raise ValueError(f"the bins hold {sum(sizes)} numbers but the vector has {vector.size}")
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        for k, (_, n) in enumerate(levels):
            ax.stairs(vector[bounds[k]:bounds[k + 1]], np.arange(bounds[k], bounds[k + 1] + 1), fill=True,
                      color=LEVEL_COLOURS[k % len(LEVEL_COLOURS)], label=t("spp.level_bins", lang, n=n))
        for b in bounds[1:-1]:
            ax.axvline(b, color="black", linestyle="--", linewidth=1.2)
        ax.set_xlim(0, vector.size)
        ax.set_xlabel(t("spp.vector_index", lang), fontsize=LABEL_SIZE - 1)
        ax.set_ylabel(t("spp.pooled_value", lang), fontsize=LABEL_SIZE - 1)
        ax.tick_params(labelsize=LABEL_SIZE - 2)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=LABEL_SIZE - 1,
                  title=t("spp.level", lang), title_fontsize=LABEL_SIZE - 1)
        pw, ph = analysis.picture.size
        terms = " + ".join(f"{n}²" for _, n in levels)
        ax.set_title(t("spp.vector_title", lang, pw=pw, ph=ph, source=source, c=channels, h=height, w=width,
                       n=vector.size, terms=terms), fontsize=LABEL_SIZE + 1)
        lengths.append(vector.size)
    if len(lengths) == 1:
        verdict = t("spp.numbers", lang, n=lengths[0])
    elif len(set(lengths)) == 1:
        count = t("spp.both", lang) if len(lengths) == 2 else t("spp.all", lang, n=len(lengths))
        verdict = t("spp.same_length", lang, n=lengths[0], count=count)
    else:
        verdict = t("spp.lengths_differ", lang, lengths=", ".join(map(str, lengths)))
    fig.suptitle(t("spp.vector_suptitle", lang, verdict=verdict), fontsize=TITLE_SIZE + 1)
    return fig


def formula_headers(lang: str = "en") -> list[str]:
    return t("spp.formula_headers", lang).split("|")


FORMULA_HEADERS = formula_headers()


def _params(rule: WindowRule) -> str:
    return f"{rule.window} · {rule.stride} · {rule.padding}"


def _outcome(rule: WindowRule, lang: str = "en") -> str:
    if not rule.accepted:
        return t("spp.refuses", lang, error=rule.error)
    return t("spp.ok", lang, bins=rule.bins) if rule.correct else t("spp.wrong", lang, bins=rule.bins, n=rule.n)


def formula_rows(size: int, levels: Iterable[int], lang: str = "en") -> list[list]:
    """For each level n on an axis of `size` cells: the blog recipe, the paper's recipe (window,
    stride, padding and what PyTorch makes of them) and adaptive pooling's bins. Columns as
    FORMULA_HEADERS."""
    rows = []
    for n in levels:
        blog, paper = blog_formula(size, n), paper_formula(size, n)
        rows.append([f"{n}×{n}", _params(blog), _outcome(blog, lang), _params(paper), _outcome(paper, lang),
                     _bin_text(adaptive_bins(size, n))])
    return rows


def _draw_windows(ax: Axes, lane: float, windows: Sequence[tuple[int, int]], size: int, colour: str) -> None:
    """Windows [start, end) as bars in a lane, alternately raised so overlaps show; the parts that
    fall in the padding (outside 0…size) are hatched."""
    for i, (start, end) in enumerate(windows):
        y = lane + (0.12 if i % 2 else -0.12)
        inside = (max(start, 0), min(end, size))
        if inside[1] > inside[0]:
            ax.broken_barh([(inside[0], inside[1] - inside[0])], (y - 0.1, 0.2), facecolors=colour,
                           edgecolors="black", linewidth=0.8)
        for a, b in ((start, min(end, 0)), (max(start, size), end)):
            if b > a:
                ax.broken_barh([(a, b - a)], (y - 0.1, 0.2), facecolors="white", edgecolors=colour,
                               hatch="///", linewidth=1.2)


def formula_figure(size: int, levels: Iterable[int], lang: str = "en") -> Figure:
    """On one axis of `size` cells, each level's pooling windows: the blog recipe (window = stride =
    ⌈a/n⌉ with padding) against adaptive pooling's bins, with PyTorch's refusal where it refuses."""
    levels = list(levels)
    rules = [blog_formula(size, n) for n in levels]
    reach = max(r.padding for r in rules)
    fig = Figure(figsize=(11, 1.9 * len(levels) + 1.4), layout="constrained")
    axes = fig.subplots(len(levels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, n, rule in zip(axes, levels, rules):
        if rule.padding:
            ax.axvspan(-rule.padding, 0, color=PADDING, zorder=0)
            ax.axvspan(size, size + rule.padding, color=PADDING, zorder=0)
        for x in range(size + 1):
            ax.axvline(x, color="#999999", linewidth=0.6, zorder=0)
        if rule.bins is not None:  # PyTorch accepted the window (`rule.accepted`) and made this many bins
            starts = [i * rule.stride - rule.padding for i in range(rule.bins)]
            _draw_windows(ax, 1, [(s, s + rule.window) for s in starts], size, BLOG)
        else:
            message = textwrap.fill(t("spp.refuses", lang, error=rule.error), 80)
            ax.text(size / 2, 1, message, color=REFUSED, ha="center", va="center", fontsize=LABEL_SIZE,
                    fontweight="bold")
        _draw_windows(ax, 0, adaptive_bins(size, n), size, ADAPTIVE)
        ax.set_yticks([1, 0], [t("spp.blog_tick", lang, w=rule.window, s=rule.stride, p=rule.padding),
                               t("spp.adaptive", lang)],
                      fontsize=LABEL_SIZE - 1)
        ax.set_ylim(-0.5, 1.5)
        outcome = _outcome(rule, lang) if rule.accepted else t("spp.refused", lang)
        ax.set_title(t("spp.formula_title", lang, n=n, outcome=outcome), fontsize=LABEL_SIZE + 1, loc="left")
    axes[-1].set_xlim(-reach - 0.5, size + reach + 0.5)
    axes[-1].set_xticks(range(-reach, size + reach + 1, max(1, (size + 2 * reach) // 20)))
    axes[-1].set_xlabel(t("spp.cell_edge", lang, last=size - 1), fontsize=LABEL_SIZE)
    axes[-1].tick_params(labelsize=LABEL_SIZE - 1)
    handles = [Patch(facecolor=BLOG, edgecolor="black", label=t("spp.blog_window", lang)),
               Patch(facecolor=ADAPTIVE, edgecolor="black", label=t("spp.adaptive_bin", lang)),
               Patch(facecolor="white", edgecolor="black", hatch="///", label=t("spp.in_padding", lang)),
               Patch(facecolor=PADDING, label=t("spp.padding", lang))]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=LABEL_SIZE - 1,
               frameon=False)
    fig.suptitle(t("spp.formula_suptitle", lang, size=size), fontsize=TITLE_SIZE + 1)
    return fig


def spp_sppf_figure(comparison: SppComparison, lang: str = "en") -> Figure:
    """SPP's parallel pooled maps (top) above SPPF's chained ones (bottom) for the channel with the
    most energy, one colour scale per column, so the equal pairs look equal; differences and timings
    in the title."""
    spp_maps = list(comparison.spp_maps.items())
    sppf_maps = list(comparison.sppf_maps.items())
    channel = int(channel_energy(spp_maps[0][1]).argmax())
    k = comparison.chain_kernel
    fig = Figure(figsize=(4.4 * len(spp_maps) + 0.5, 7.4), layout="constrained")
    axes = fig.subplots(2, len(spp_maps), squeeze=False)
    for col, ((spp_id, spp_map), (sppf_id, sppf_map), kernel, diff) in enumerate(
            zip(spp_maps, sppf_maps, comparison.kernel_sizes, comparison.pooled_max_diff)):
        pair = [spp_map[0, channel].numpy(), sppf_map[0, channel].numpy()]
        lo, hi = min(m.min() for m in pair), max(m.max() for m in pair)
        chain = "∘".join([str(k)] * (col + 1))
        titles = [t("spp.spp_title", lang, node=spp_id, k=kernel),
                  t("spp.sppf_title", lang, node=sppf_id, chain=chain, diff=f"{diff:g}")]
        for ax, values, title in zip(axes[:, col], pair, titles):
            image = ax.imshow(values, cmap=CHANNEL_CMAP, vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(title, fontsize=LABEL_SIZE)
            ax.tick_params(labelsize=LABEL_SIZE - 3)
        axes[1, col].set_xlabel(t("spp.col_cell", lang), fontsize=LABEL_SIZE - 2)
        bar = fig.colorbar(image, ax=list(axes[:, col]), orientation="horizontal", shrink=0.85, pad=0.02)
        bar.set_label(t("spp.after_pooling", lang, channel=channel), fontsize=LABEL_SIZE - 2)
        bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
    for ax in axes[:, 0]:
        ax.set_ylabel(t("spp.row_cell", lang), fontsize=LABEL_SIZE - 2)
    fig.suptitle(t("spp.sppf_suptitle", lang, kernels=", ".join(map(str, comparison.kernel_sizes)), k=k,
                   diff=f"{comparison.output_max_diff:g}", spp=f"{comparison.spp_seconds * 1e3:.2f}",
                   sppf=f"{comparison.sppf_seconds * 1e3:.2f}"), fontsize=TITLE_SIZE + 1)
    return fig
