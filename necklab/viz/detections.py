"""What the trained head answers on the learner's picture (`Analysis.answers`): the detections above a
score threshold as boxes coloured by the level that produced them, each level's class heatmap with
the object sizes the size-to-level rule taught it (`necklab.models.head.assign_level`), and which
weights are shown with their held-out scores — or, for ASPP, the segmentation head's class of each
pixel and each class's probability. Without answers (fresh weights) there is no figure, only words
saying why (`no_answers_words`).

Coordinates: boxes are in the analysed picture's pixel edges (the head's convention) and are drawn in
the uploaded picture's pixels like every other view (`to_original`); a level's heatmap sits on its
cells' exact grid (`Analysis.grid`); the segmentation is upsampled to the analysed picture the way
the head was trained (bilinear, corners not aligned).

Also the cell view's detection response (`cell_response`, registered with `add_cell_panel`): the
clicked cell's class scores at an output level, or its class probabilities for ASPP.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, PowerNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Patch, Rectangle

from necklab.i18n import strings, t
from necklab.lab.analysis import Analysis
from necklab.models.head import CLASS_NAMES, SIZE_PER_STRIDE
from necklab.models.weights import read_manifest
from necklab.viz.cell import CellPanel, add_cell_panel
from necklab.viz.maps import HEATMAP_CMAP, LABEL_SIZE, TITLE_SIZE, original_extent, show_picture, to_original

MIN_THRESHOLD, MAX_THRESHOLD, THRESHOLD = 0.05, 0.95, 0.3  # the slider's bounds and start
LABELLED = 12  # boxes labelled with their class and score (the best ones); every box is drawn
# A colour per level (log2 stride), the same in every neck: P3 is always orange, P5 always green.
LEVEL_COLOURS = {1: "#0072B2", 2: "#CC79A7", 3: "#E69F00", 4: "#56B4E9", 5: "#009E73", 6: "#F0E442",
                 7: "#D55E00"}
OTHER_LEVEL = "#FFFFFF"
# A colour per class (background transparent): Okabe–Ito, distinct from one another on photos.
CLASS_COLOURS = ("#E69F00", "#009E73", "#0072B2", "#CC79A7")
HALO = [patheffects.withStroke(linewidth=3.5, foreground="black")]
THIN_HALO = [patheffects.withStroke(linewidth=2.6, foreground="black")]  # boxes on the small heatmaps
HEADLINE_METRICS = ("AP", "AP50", "AP_S", "AP_M", "AP_L")


def score_norm() -> PowerNorm:
    """Scores and probabilities on one fixed scale, 0 to 1, for every level and class: a dark level
    answers nothing (the square-root scale keeps low scores visible)."""
    return PowerNorm(0.5, vmin=0.0, vmax=1.0)


def level_colour(level: int) -> str:
    return LEVEL_COLOURS.get(level, OTHER_LEVEL)


def class_name(label: int, lang: str = "en") -> str:
    return t(f"det.class.{CLASS_NAMES[label]}", lang)


def output_levels(analysis: Analysis) -> dict[int, str]:
    """The levels (log2 stride) of the neck's outputs, finest first, each with its node's id."""
    found: dict[int, str] = {}
    for node in analysis.outputs:
        level = analysis.topology.node(node).level
        if level is not None and level not in found:
            found[level] = node
    return dict(sorted(found.items()))


def level_words(level: int, node: str | None = None, lang: str = "en") -> str:
    """'P3 (stride 8)', or 'P3 = N3 (stride 8)' where the neck names its output otherwise."""
    if node is None or node == f"P{level}":
        return t("det.level", lang, level=level, stride=2 ** level)
    return t("det.level_node", lang, level=level, node=node, stride=2 ** level)


def taught_sizes(level: int, levels: Sequence[int], scale: float = 1.0) -> tuple[float, float]:
    """The sizes √(w·h) the size-to-level rule gives a level among `levels`, in px of a picture
    analysed at `scale` (analysed / uploaded): [2s, 4s) for a stride s, from 0 at the finest level
    and to infinity at the coarsest (`assign_level` clamps to them)."""
    stride = 2.0 ** level
    low = 0.0 if level == min(levels) else SIZE_PER_STRIDE[0] * stride
    high = math.inf if level == max(levels) else SIZE_PER_STRIDE[1] * stride
    return low / scale, high / scale


def sizes_words(level: int, levels: Sequence[int], scale: float = 1.0, lang: str = "en") -> str:
    low, high = taught_sizes(level, levels, scale)
    if low == 0 and math.isinf(high):
        return t("det.sizes_all", lang)
    if low == 0:
        return t("det.sizes_below", lang, high=f"{high:,.0f}")
    if math.isinf(high):
        return t("det.sizes_above", lang, low=f"{low:,.0f}")
    return t("det.sizes_between", lang, low=f"{low:,.0f}", high=f"{high:,.0f}")


def picture_scale(analysis: Analysis) -> float:
    """Analysed px per uploaded px (one number: the geometric mean of the two axes')."""
    sx, sy = analysis.picture.scale_xy
    return math.sqrt(sx * sy)


# ---------------------------------------------------------------------------------------------- words

def no_answers_words(analysis: Analysis, lang: str = "en") -> str | None:
    """Why there is nothing to draw (Markdown), or None when the head has answers."""
    if analysis.answers is not None:
        return None
    reason = analysis.weights.reason or "chosen"
    fields: dict[str, str] = {}
    if reason == "other_config":
        entry = read_manifest().get(analysis.neck_name)
        if entry is None:
            reason = "other_config_plain"
        else:
            fields["config"] = ", ".join(f"`{k} = {v}`" for k, v in entry["config"].items())
    key = f"det.why.{reason}"
    why = t(key, lang, **fields) if key in strings(lang) else t("det.why.none_for_neck", lang)
    return t("det.no_answers", lang, title=analysis.title, why=why)


def metrics_words(analysis: Analysis, names: Sequence[str], lang: str = "en") -> str:
    """The trained weights' held-out scores (in %) that are among `names`, in that order."""
    metrics = dict(analysis.weights.metrics)
    return ", ".join(t("det.metric", lang, name=name, value=f"{metrics[name]:.1f}") for name in names
                     if name in metrics)


def headline(analysis: Analysis, lang: str = "en") -> str:
    """The figure's title: the neck, that its weights are trained, and their held-out scores."""
    if analysis.answers is not None and analysis.answers.segmentation is not None:
        return t("det.seg_trained", lang, title=analysis.title, metrics=metrics_words(analysis, ("mIoU",), lang))
    return t("det.trained", lang, title=analysis.title, metrics=metrics_words(analysis, HEADLINE_METRICS, lang))


def threshold_of(value: float) -> float:
    """A threshold within the slider's bounds."""
    return min(max(float(value), MIN_THRESHOLD), MAX_THRESHOLD)


def score_words(score: float) -> str:
    return f"{score:.2f}"


@dataclass(frozen=True)
class Shown:
    """The detections above a threshold (indices into `answers.detections`, best first)."""

    indices: list[int]
    total: int


def shown_detections(analysis: Analysis, threshold: float) -> Shown:
    found = analysis.answers.detections if analysis.answers is not None else None
    if found is None:
        return Shown([], 0)
    keep = torch.nonzero(found.scores >= threshold).flatten()
    order = keep[found.scores[keep].argsort(descending=True)]
    return Shown([int(i) for i in order], len(found))


def detections_note(analysis: Analysis, threshold: float, lang: str = "en") -> str:
    """Markdown beside the figure: how many boxes are shown, per level, and the best one (or why
    there is nothing to draw)."""
    missing = no_answers_words(analysis, lang)
    if missing is not None:
        return missing
    threshold = threshold_of(threshold)
    answers = analysis.answers
    assert answers is not None
    if answers.segmentation is not None:
        classes, share = segmentation_classes(analysis, threshold)
        counts = [t("det.seg_share", lang, cls=class_name(k, lang), share=f"{s:.1%}")
                  for k, s in enumerate(share) if s > 0]
        return t("det.seg_note", lang, share=f"{float((classes > 0).mean()):.1%}", threshold=score_words(threshold),
                 classes=" · ".join(counts) or "—")
    found = answers.detections
    assert found is not None
    shown = shown_detections(analysis, threshold)
    levels = output_levels(analysis)
    per_level = [t("det.level_count", lang, level=f"P{level}",
                   n=sum(int(found.levels[i]) == level for i in shown.indices)) for level in levels]
    best = ""
    if shown.indices:
        i = shown.indices[0]
        best = t("det.note_best", lang, cls=class_name(int(found.labels[i]), lang),
                 score=score_words(float(found.scores[i])), level=f"P{int(found.levels[i])}")
    return t("det.note", lang, n=len(shown.indices), threshold=score_words(threshold), total=shown.total,
             levels=" · ".join(per_level), best=best)


# --------------------------------------------------------------------------------------------- figures

def detections_figure(analysis: Analysis, threshold: float = THRESHOLD, lang: str = "en") -> Figure:
    """The head's answers on the picture (see the module's notes); a ValueError without answers
    (`no_answers_words` says why)."""
    if analysis.answers is None:
        raise ValueError("no answers: the analysis shows fresh weights")
    threshold = threshold_of(threshold)
    if analysis.answers.segmentation is not None:
        return segmentation_figure(analysis, threshold, lang)
    return _detection_figure(analysis, threshold, lang)


def _layout(analysis: Analysis, panels: int, title_lines: int) -> tuple[Figure, Axes, list[Axes]]:
    """A figure with the picture large on top (its legend to the right) and `panels` small maps in
    a row below it, each under a title of `title_lines` lines."""
    w, h = analysis.picture.original_size
    aspect = h / w
    width = 13.0
    top_h = min(max((width - 4.2) * aspect, 2.6), 7.0) + 1.2  # the picture beside its legend, titles, x label
    small_h = min(max((width / max(panels, 3) - 0.35) * aspect, 1.4), 4.0) + 0.1 + 0.3 * title_lines
    fig = Figure(figsize=(width, top_h + small_h + 1.1), layout="constrained")
    top, bottom = cast(np.ndarray, fig.subfigures(2, 1, height_ratios=[top_h, small_h + 1.1]))
    main = top.subplots()
    small = bottom.subplots(1, max(panels, 1), squeeze=False)[0]
    return fig, main, list(small)


def box_on_picture(analysis: Analysis, box: Sequence[float]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) of a box in analysed-pixel edges, in the uploaded picture's pixels as the
    picture is drawn (pixel k spans k − ½ … k + ½)."""
    x0, y0 = to_original(analysis.picture, float(box[0]) - 0.5, float(box[1]) - 0.5)
    x1, y1 = to_original(analysis.picture, float(box[2]) - 0.5, float(box[3]) - 0.5)
    return x0, y0, x1, y1


def _detection_figure(analysis: Analysis, threshold: float, lang: str) -> Figure:
    answers = analysis.answers
    assert answers is not None and answers.detections is not None
    found = answers.detections
    levels = output_levels(analysis)
    shown = shown_detections(analysis, threshold)
    fig, ax, small = _layout(analysis, len(levels), title_lines=3)
    show_picture(ax, analysis.picture, lang)
    for rank, i in enumerate(reversed(shown.indices)):  # the best drawn last, on top
        level = int(found.levels[i])
        x0, y0, x1, y1 = box_on_picture(analysis, found.boxes[i].tolist())
        colour = level_colour(level)
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=colour, linewidth=2.2,
                               path_effects=HALO, zorder=3, gid=f"det-{i}"))
        if len(shown.indices) - rank <= LABELLED:
            ax.text(x0, y0, t("det.box_label", lang, cls=class_name(int(found.labels[i]), lang),
                              score=score_words(float(found.scores[i]))),
                    fontsize=LABEL_SIZE - 2, color="black", va="bottom", ha="left", zorder=4, clip_on=True,
                    bbox=dict(boxstyle="square,pad=0.15", facecolor=colour, edgecolor="none", alpha=0.9),
                    gid=f"det-label-{i}")
    counts = {level: sum(int(found.levels[i]) == level for i in shown.indices) for level in levels}
    handles = [Patch(fill=False, edgecolor=level_colour(level), linewidth=2.2, path_effects=HALO,
                     label=t("det.level_count", lang, level=level_words(level, node, lang), n=counts[level]))
               for level, node in levels.items()]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=LABEL_SIZE - 1,
              frameon=False, borderaxespad=0, title=t("det.legend_title", lang), title_fontsize=LABEL_SIZE - 1,
              alignment="left")
    if shown.indices:
        title = t("det.boxes_title", lang, n=len(shown.indices), threshold=score_words(threshold), total=shown.total)
        if len(shown.indices) > LABELLED:
            title += t("det.labelled", lang, k=LABELLED)
    elif shown.total:
        title = t("det.none_above", lang, threshold=score_words(threshold),
                  best=score_words(float(found.scores.max())))
    else:
        title = t("det.none_found", lang)
    ax.set_title(title, fontsize=TITLE_SIZE - 1)
    image: AxesImage | None = None
    scale = picture_scale(analysis)
    for axis, (level, node) in zip(small, levels.items()):
        image = _heatmap_panel(axis, analysis, level, node, list(levels), scale, counts[level], shown, lang)
    if image is not None:
        bar = small[0].figure.colorbar(image, ax=small, orientation="horizontal", shrink=0.6, aspect=40)
        bar.set_label(t("det.heat_bar", lang), fontsize=LABEL_SIZE - 1)
        bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
        bar.ax.axvline(threshold, color="white", linewidth=2)
        bar.ax.axvline(threshold, color="black", linewidth=1, linestyle=(0, (2, 1)))
    fig.suptitle(headline(analysis, lang), fontsize=TITLE_SIZE)
    return fig


def _heatmap_panel(ax: Axes, analysis: Analysis, level: int, node: str, levels: Sequence[int], scale: float,
                   count: int, shown: Shown, lang: str) -> AxesImage:
    """One level's score map (best class per cell) on the picture, outlined in the level's colour,
    with the boxes it produced."""
    assert analysis.answers is not None
    scores = analysis.answers.heatmaps[level].amax(dim=0).numpy()
    show_picture(ax, analysis.picture, lang)
    extent = original_extent(analysis.picture, analysis.grid(level), *scores.shape)
    image = ax.imshow(scores, extent=extent, cmap=HEATMAP_CMAP, norm=score_norm(), alpha=0.7,
                      interpolation="nearest")
    w, h = analysis.picture.original_size
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    detections = analysis.answers.detections
    assert detections is not None
    for i in shown.indices:
        if int(detections.levels[i]) == level:
            x0, y0, x1, y1 = box_on_picture(analysis, detections.boxes[i].tolist())
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor=level_colour(level),
                                   linewidth=1.4, path_effects=THIN_HALO, zorder=3))
    _small(ax, level_colour(level))
    ax.set_title(t("det.heat_title", lang, level=level_words(level, node, lang), rows=scores.shape[0],
                   cols=scores.shape[1], sizes=sizes_words(level, levels, scale, lang), n=count),
                 fontsize=LABEL_SIZE - 1)
    return image


def _small(ax: Axes, colour: str) -> None:
    """A small map under the picture: framed in its level's or class's colour, no ticks (the
    picture above has the pixel axes)."""
    for side in ax.spines.values():
        side.set_edgecolor(colour)
        side.set_linewidth(3)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")


def segmentation_probabilities(analysis: Analysis) -> torch.Tensor:
    """The head's class probabilities ((1+K)×H×W, background first) on the analysed picture."""
    assert analysis.answers is not None and analysis.answers.segmentation is not None
    h, w = analysis.picture.rgb.shape[:2]
    return F.interpolate(analysis.answers.segmentation[None].float(), size=(h, w), mode="bilinear",
                         align_corners=False)[0]


def segmentation_classes(analysis: Analysis, threshold: float) -> tuple[np.ndarray, list[float]]:
    """Each analysed pixel's class (1 + label, 0 where the best class is the background or its
    probability is below `threshold`), and the share of the picture each object class takes."""
    probs = segmentation_probabilities(analysis)
    best, label = probs.max(dim=0)
    classes = torch.where(best >= threshold, label, torch.zeros_like(label)).numpy()
    return classes, [float((classes == 1 + k).mean()) for k in range(len(CLASS_NAMES))]


def segmentation_figure(analysis: Analysis, threshold: float = THRESHOLD, lang: str = "en") -> Figure:
    """ASPP's trained head: each pixel's class where its probability is ≥ threshold, over the
    picture (a legend names the classes), and each object class's probability map."""
    threshold = threshold_of(threshold)
    answers = analysis.answers
    assert answers is not None and answers.segmentation is not None
    probs = segmentation_probabilities(analysis)
    classes, share = segmentation_classes(analysis, threshold)
    fig, ax, small = _layout(analysis, len(CLASS_NAMES), title_lines=1)
    w, h = analysis.picture.original_size
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    show_picture(ax, analysis.picture, lang)
    colours = ListedColormap(["#00000000", *CLASS_COLOURS])  # background transparent
    ax.imshow(classes, extent=extent, cmap=colours, vmin=-0.5, vmax=len(CLASS_NAMES) + 0.5, alpha=0.6,
              interpolation="nearest", gid="segmentation")
    handles = [Patch(facecolor="none", edgecolor="black", label=t("det.background", lang))]
    handles += [Patch(facecolor=colour, edgecolor="black", label=f"{class_name(k, lang)} · {share[k]:.1%}")
                for k, colour in enumerate(CLASS_COLOURS)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=LABEL_SIZE - 1,
              frameon=False, borderaxespad=0)
    covered = float((classes > 0).mean())
    if covered > 0:
        ax.set_title(t("det.seg_overlay", lang, threshold=score_words(threshold), share=f"{covered:.1%}"),
                     fontsize=TITLE_SIZE - 1)
    else:
        ax.set_title(t("det.seg_none", lang, threshold=score_words(threshold),
                       best=score_words(float(probs[1:].max()))), fontsize=TITLE_SIZE - 1)
    image = None
    for k, axis in enumerate(small):
        show_picture(axis, analysis.picture, lang)
        image = axis.imshow(probs[1 + k].numpy(), extent=extent, cmap=HEATMAP_CMAP,
                            norm=score_norm(), alpha=0.7)
        _small(axis, CLASS_COLOURS[k])
        axis.set_title(t("det.seg_class", lang, cls=class_name(k, lang)), fontsize=LABEL_SIZE)
    assert image is not None
    rows, cols = answers.segmentation.shape[-2:]
    bar = small[0].figure.colorbar(image, ax=small, orientation="horizontal", shrink=0.6, aspect=40)
    bar.set_label(t("det.seg_bar", lang, rows=rows, cols=cols), fontsize=LABEL_SIZE - 1)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
    bar.ax.axvline(threshold, color="black", linewidth=1, linestyle=(0, (2, 1)))
    fig.suptitle(headline(analysis, lang), fontsize=TITLE_SIZE)
    return fig


# ------------------------------------------------------------------------------------------- cell view

def cell_response(analysis: Analysis, node: str, cell: tuple[int, int], lang: str = "en") -> CellPanel | None:
    """The cell view's detection response: for a cell of an output map with the head's answers, its
    score per class at that level (or its class probabilities for segmentation)."""
    answers = analysis.answers
    if answers is None or node not in analysis.outputs:
        return None
    level = analysis.topology.node(node).level
    if answers.segmentation is not None:
        seg = answers.segmentation
        if not (0 <= cell[0] < seg.shape[-2] and 0 <= cell[1] < seg.shape[-1]):
            return None
        values = seg[:, cell[0], cell[1]].tolist()
        names = [t("det.background", lang), *(class_name(k, lang) for k in range(len(CLASS_NAMES)))]
        return CellPanel(t("det.cell_seg_title", lang), lambda ax: _bars(
            ax, names, values, ["#BBBBBB", *CLASS_COLOURS], t("det.cell_seg_score", lang)))
    if level is None or level not in answers.heatmaps:
        return None
    heat = answers.heatmaps[level]
    if not (0 <= cell[0] < heat.shape[-2] and 0 <= cell[1] < heat.shape[-1]):
        return None
    levels = output_levels(analysis)
    values = heat[:, cell[0], cell[1]].tolist()
    names = [class_name(k, lang) for k in range(len(CLASS_NAMES))]
    title = t("det.cell_title", lang, level=level_words(level, node, lang),
              sizes=sizes_words(level, list(levels), picture_scale(analysis), lang))
    return CellPanel(title, lambda ax: _bars(ax, names, values, list(CLASS_COLOURS), t("det.cell_score", lang)))


def _bars(ax: Axes, names: Sequence[str], values: Sequence[float], colours: Sequence[str], label: str) -> None:
    """Class values as horizontal bars on a 0–1 scale, each with its value (replaces the picture)."""
    ax.clear()
    ax.set_aspect("auto")
    ax.barh(range(len(values)), values, color=colours, edgecolor="black", linewidth=0.6)
    for k, value in enumerate(values):
        ax.text(min(value, 0.8) + 0.02, k, f"{value:.2f}", va="center", fontsize=LABEL_SIZE - 2)
    ax.set_yticks(range(len(values)), names, fontsize=LABEL_SIZE - 1)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(label, fontsize=LABEL_SIZE - 2)
    ax.tick_params(labelsize=LABEL_SIZE - 2)


add_cell_panel(cell_response)

