"""ASFF's lesson: for one output level, the per-cell softmax weights of the three source levels on
the picture (they sum to 1 at every cell), which level wins where, the resized sources and what
their weighted sum and the expanding conv make of them."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from necklab.i18n import t
from necklab.lab.analysis import Analysis, describe_shape
from necklab.lab.pyramid import level_of
from necklab.lab.words import shown_words
from necklab.viz.graph import OKABE_ITO
from necklab.viz.maps import LABEL_SIZE, TITLE_SIZE, mean_map, original_extent, overlay_heatmap, show_picture

SOURCE_COLOURS = OKABE_ITO[:3]  # orange, sky blue, bluish green: fine → coarse source
PANEL_WIDTH = 3.3  # inches per panel


def levels(analysis: Analysis) -> list[int]:
    """The output levels of an ASFF analysis (3, 4, 5 for A3, A4, A5)."""
    return [level_of(analysis.topology.node(out)) for out in analysis.outputs]


def _fused_node(analysis: Analysis, level: int) -> str:
    node = next((o for o in analysis.outputs if analysis.topology.node(o).level == level), None)
    if node is None:
        raise ValueError(f"no ASFF output at level {level}; the outputs are at levels {levels(analysis)}")
    return f"{node}.fused"


def fusion_weights(analysis: Analysis, level: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """The (3, H, W) softmax weights fusing into `level`, channels fine → coarse, and the node
    each channel weighs."""
    extras = analysis.trace.extras[_fused_node(analysis, level)]
    return extras["weights"][0].numpy(), tuple(extras["sources"])


def weight_sum_deviation(analysis: Analysis, level: int) -> float:
    """max over cells of |Σ weights − 1|: the softmax makes it 0 up to float rounding."""
    weights, _ = fusion_weights(analysis, level)
    return float(np.abs(weights.astype(np.float64).sum(axis=0) - 1).max())


def weights_figure(analysis: Analysis, level: int, lang: str = "en") -> Figure:
    """Top row: each source level's weight map on one 0…1 scale, their per-cell sum, and the level
    that weighs most at each cell. Bottom row, aligned below: the resized sources, their weighted
    sum and the expanded output (mean over channels)."""
    fused = _fused_node(analysis, level)
    output = fused.removesuffix(".fused")
    weights, sources = fusion_weights(analysis, level)
    source_levels = sorted(level_of(analysis.topology.node(n)) for n in analysis.topology.inputs)
    picture, grid = analysis.picture, analysis.grid(level)
    w, h = picture.original_size
    panel_h = PANEL_WIDTH * min(1.4, max(0.5, h / w))
    fig = Figure(figsize=(5 * PANEL_WIDTH + 1.6, 2 * panel_h + 2.6), layout="constrained")
    axes = fig.subplots(2, 5)

    for ax, wmap, src, s in zip(axes[0], weights, sources, source_levels):
        im = overlay_heatmap(ax, picture, wmap, grid, alpha=0.75, lang=lang)
        im.set_clim(0, 1)
        role = t("asff.target" if s == level else "asff.finer" if s < level else "asff.coarser", lang)
        ax.set_title(t("asff.weight_title", lang, s=s, role=role, src=src, mean=f"{wmap.mean():.3f}"),
                     fontsize=LABEL_SIZE)
    deviation = weight_sum_deviation(analysis, level)
    total = overlay_heatmap(axes[0, 3], picture, weights.sum(axis=0), grid, alpha=0.75, lang=lang)
    total.set_clim(0, 1)
    axes[0, 3].set_title(t("asff.sum_title", lang, deviation=f"{deviation:.1e}"), fontsize=LABEL_SIZE)
    bar = fig.colorbar(total, ax=axes[0, :4], shrink=0.9, pad=0.01)
    bar.set_label(t("asff.softmax_bar", lang), fontsize=LABEL_SIZE - 1)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 3)

    winner = axes[0, 4]
    show_picture(winner, picture, lang)
    best = weights.argmax(axis=0)
    im = winner.imshow(best, extent=original_extent(picture, grid, *best.shape), cmap=ListedColormap(SOURCE_COLOURS),
                       vmin=-0.5, vmax=len(sources) - 0.5, alpha=0.6, interpolation="nearest")
    winner.set_title(t("asff.winner", lang), fontsize=LABEL_SIZE)
    bar = fig.colorbar(im, ax=winner, shrink=0.9, pad=0.01, ticks=range(len(sources)))
    bar.ax.set_yticklabels([t("asff.winner_tick", lang, s=s, share=f"{(best == i).mean():.0%}")
                            for i, s in enumerate(source_levels)],
                           fontsize=LABEL_SIZE - 2)
    bar.set_label(t("asff.share", lang), fontsize=LABEL_SIZE - 1)

    maps = [mean_map(analysis.trace[src]) for src in sources] + [mean_map(analysis.trace[fused])]
    low, high = min(m.min() for m in maps), max(m.max() for m in maps)
    for ax, values, src, s in zip(axes[1], maps, sources, source_levels):
        im = overlay_heatmap(ax, picture, values, grid, lang=lang)
        im.set_clim(low, high)
        how = t("asff.as_is", lang) if s == level else t("asff.resized", lang, level=level)
        ax.set_title(t("asff.source_title", lang, s=s, how=how, src=src, shape=describe_shape(analysis.trace[src])),
                     fontsize=LABEL_SIZE)
    im = overlay_heatmap(axes[1, 3], picture, maps[-1], grid, lang=lang)
    im.set_clim(low, high)
    axes[1, 3].set_title(t("asff.fused_title", lang, fused=fused, shape=describe_shape(analysis.trace[fused])),
                         fontsize=LABEL_SIZE)
    bar = fig.colorbar(im, ax=axes[1, :4], shrink=0.9, pad=0.01)
    bar.set_label(t("asff.mean_shared", lang), fontsize=LABEL_SIZE - 1)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
    out = overlay_heatmap(axes[1, 4], picture, mean_map(analysis.trace[output]), grid, lang=lang)
    axes[1, 4].set_title(t("asff.output_title", lang, output=output, shape=describe_shape(analysis.trace[output])),
                         fontsize=LABEL_SIZE)
    bar = fig.colorbar(out, ax=axes[1, 4], shrink=0.9, pad=0.01)
    bar.set_label(t("asff.mean", lang), fontsize=LABEL_SIZE - 1)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 3)

    for i, ax in enumerate(axes.ravel()):
        if i % 5:
            ax.set_ylabel("")
        if i < 5:
            ax.set_xlabel("")
    fig.suptitle(t("asff.suptitle", lang, output=output, stride=2 ** level,
                   note=shown_words("asff.note", analysis.weights, lang)), fontsize=TITLE_SIZE)
    return fig

