"""The zoo side by side: the comparison table (numbers stay numbers, so it sorts numerically), its
CSV, parameters against latency, and the effective receptive field area of every neck."""
from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox

from necklab.i18n import t
from necklab.lab.compare import ERF_MASS, NeckRow
from necklab.lab.words import weights_words
from necklab.viz.graph import OKABE_ITO
from necklab.viz.maps import LABEL_SIZE, TITLE_SIZE

HELD_OUT = ("AP", "AP_S", "AP_M", "AP_L", "mIoU")  # the trained weights' held-out metrics the table shows


def compare_headers(lang: str = "en") -> list[str]:
    return t("compare.headers", lang).split("|")


COMPARE_HEADERS = compare_headers()  # the CSV's, in English
COMPARE_TYPES = ["str", "str", "number", "number", "number", "str", *["number"] * len(HELD_OUT), "str", "str",
                 "number", "number", "str", "number", "number", "str"]

# How a neck reads the backbone: (colour, marker) — both tell it; the legend label is compare.family_<key>.
FAMILIES = {
    "single": (OKABE_ITO[4], "s"),
    "pyramid": (OKABE_ITO[0], "o"),
    "rerun": (OKABE_ITO[5], "D"),
}
# Label positions tried around a point, in points from it: right, left, above, below, then further out.
LABEL_SPOTS = [(9, 0, "left"), (-9, 0, "right"), (0, 12, "center"), (0, -12, "center"),
               (9, 14, "left"), (9, -14, "left"), (-9, 14, "right"), (-9, -14, "right"),
               (12, 28, "left"), (12, -28, "left"), (-12, 28, "right"), (-12, -28, "right")]


def family(row: NeckRow) -> str:
    """'single' for a neck on one level, 'rerun' for one that reruns the backbone, else 'pyramid'."""
    if "image" in row.inputs:
        return "rerun"
    return "single" if len(row.inputs) == 1 else "pyramid"


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def global_context(row: NeckRow, lang: str = "en") -> str | None:
    """'whole picture' where a global pooling reaches the finest output, 'none' where none does."""
    if row.rf_px is None:
        return None
    return t("compare.whole_picture" if row.whole_picture else "compare.no_context", lang)


def notes_text(row: NeckRow, lang: str = "en") -> str:
    if row.error:
        return t("compare.failed", lang, error=row.error)
    return t("step.sep", lang).join(t(f"compare.note.{note.key}", lang, **note.fields) for note in row.notes)


def compare_rows(rows: Sequence[NeckRow], lang: str = "en") -> list[list]:
    """Table rows under COMPARE_HEADERS; measured values are numbers (None where not measured)."""
    return [[r.title, ", ".join(r.inputs), r.params, _rounded(None if r.flops is None else r.flops / 1e9, 3),
             _rounded(r.latency_ms, 2), weights_words(r.weights, lang),
             *(_rounded(r.metrics.get(key), 1) for key in HELD_OUT), r.outputs, r.finest, r.stride,
             None if r.local_rf_px is None else int(r.local_rf_px), global_context(r, lang), r.erf_px,
             _rounded(r.erf_percent, 1), notes_text(r, lang)]
            for r in rows]


def to_csv(rows: Sequence[NeckRow], path: str | Path) -> Path:
    """Write the table (headers first) as UTF-8 CSV; empty cells where nothing was measured."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COMPARE_HEADERS)
        writer.writerows(compare_rows(rows))
    return path


def rf_text(row: NeckRow, lang: str = "en") -> str:
    """The theoretical receptive field of the finest output's cells, in words."""
    if row.rf_px is None:
        return t("compare.rf_none", lang)
    if row.whole_picture:
        return t("compare.rf_whole", lang)
    return t("compare.rf_px", lang, px=f"{row.rf_px:.0f}")


def _title(ax: Axes, title: str, subtitle: str) -> None:
    ax.set_title(f"{title}\n{subtitle}" if subtitle else title, fontsize=TITLE_SIZE, loc="left")


def _label_points(fig: Figure, ax: Axes, points: Sequence[tuple[float, float, str]]) -> None:
    """Write each label beside its point at the first spot of LABEL_SPOTS where it overlaps no marker
    and no other label and stays inside the axes; far spots get a leader line. Freezes the layout of
    `fig` (the axes' figure) first, so the measured positions are the drawn ones."""
    if not points:
        return
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    frame = ax.get_window_extent(renderer)
    marker = 7 * fig.dpi / 72  # half a marker's width, in pixels
    taken = [Bbox.from_bounds(px - marker, py - marker, 2 * marker, 2 * marker)
             for px, py in ax.transData.transform([(x, y) for x, y, _ in points])]
    for x, y, text in points:
        for dx, dy, ha in LABEL_SPOTS:
            far = abs(dy) > 14
            label = ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points", ha=ha, va="center",
                                fontsize=LABEL_SIZE - 1,
                                arrowprops=dict(arrowstyle="-", color="0.45", lw=0.7, shrinkB=5) if far else None)
            box = label.get_window_extent(renderer).expanded(1.04, 1.15)
            fits = frame.contains(box.x0, box.y0) and frame.contains(box.x1, box.y1)
            if fits and not any(box.overlaps(other) for other in taken):
                break
            if (dx, dy, ha) != LABEL_SPOTS[-1]:
                label.remove()
        taken.append(box)


def params_latency_figure(rows: Sequence[NeckRow], subtitle: str = "", lang: str = "en") -> Figure:
    """Scatter of parameters (symmetric log: parameter-free necks sit at 0) against median latency
    (log), one labelled point per neck, coloured and shaped by how the neck reads the backbone."""
    # (row, parameters, latency) of each neck with both measured
    shown = [(r, r.params, r.latency_ms) for r in rows if r.params is not None and r.latency_ms is not None]
    fig = Figure(figsize=(9.0, 6.0), layout="constrained")
    ax = fig.add_subplot()
    for key, (colour, marker) in FAMILIES.items():
        group = [(params, latency) for r, params, latency in shown if family(r) == key]
        if group:
            ax.scatter([params for params, _ in group], [latency for _, latency in group], s=70, color=colour,
                       marker=marker, edgecolors="black", linewidths=0.7, label=t(f"compare.family_{key}", lang),
                       zorder=3)
    ax.set_xscale("symlog", linthresh=1e4, linscale=0.5)
    ax.set_yscale("log")
    if shown:
        ax.set_xlim(-2e3, max(params for _, params, _ in shown) * 4)
        low, high = min(latency for _, _, latency in shown), max(latency for _, _, latency in shown)
        ax.set_ylim(low / 2.5, high * 2.5)
    ax.set_xlabel(t("compare.params_axis", lang), fontsize=LABEL_SIZE)
    ax.set_ylabel(t("compare.latency_axis", lang), fontsize=LABEL_SIZE)
    ax.grid(True, which="major", color="0.88", zorder=0)
    ax.legend(title=t("compare.reads", lang), fontsize=LABEL_SIZE - 1, title_fontsize=LABEL_SIZE - 1, loc="upper left")
    _title(ax, t("compare.params_title", lang), subtitle)
    _label_points(fig, ax, [(params, latency, r.title) for r, params, latency in shown])
    return fig


def erf_area_figure(rows: Sequence[NeckRow], subtitle: str = "", lang: str = "en") -> Figure:
    """Horizontal bars of the ERF 95 %-mass area (% of the picture) of the centre cell of each neck's
    finest output, largest on top, with the theoretical receptive field on the right."""
    measured = [r for r, _ in sorted(((r, r.erf_percent) for r in rows if r.erf_percent is not None),
                                     key=lambda pair: pair[1])]
    order = [r for r in rows if r.erf_percent is None] + measured  # bars run bottom-up
    fig = Figure(figsize=(9.0, 0.42 * len(order) + 1.9), layout="constrained")
    ax = fig.add_subplot()
    ys = range(len(order))
    ax.barh(ys, [r.erf_percent or 0 for r in order], color=[FAMILIES[family(r)][0] for r in order],
            edgecolor="black", linewidth=0.6, height=0.7, zorder=3)
    for y, r in zip(ys, order):
        if r.erf_percent is None:
            why = t("compare.failed", lang, error=r.error) if r.error else t("compare.no_cells", lang)
            ax.text(1, y, why, va="center", fontsize=LABEL_SIZE - 1, color="0.3")
        elif r.erf_percent > 88:
            ax.text(r.erf_percent - 1, y, f"{r.erf_percent:.1f} %", va="center", ha="right", fontsize=LABEL_SIZE - 1)
        else:
            ax.text(r.erf_percent + 1, y, f"{r.erf_percent:.1f} %", va="center", fontsize=LABEL_SIZE - 1)
    ax.set_yticks(list(ys), [f"{r.title} ({r.finest})" if r.finest else r.title for r in order],
                  fontsize=LABEL_SIZE - 1)
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xlabel(t("compare.erf_axis", lang, mass=f"{ERF_MASS * 100:.0f}"), fontsize=LABEL_SIZE)
    ax.grid(True, axis="x", color="0.88", zorder=0)
    kinds = [key for key in FAMILIES if any(family(r) == key for r in order)]
    ax.legend([Patch(facecolor=FAMILIES[k][0], edgecolor="black", linewidth=0.6) for k in kinds],
              [t(f"compare.family_{k}", lang) for k in kinds], title=t("compare.reads", lang), loc="lower right",
              fontsize=LABEL_SIZE - 1,
              title_fontsize=LABEL_SIZE - 1)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(list(ys), [rf_text(r, lang) for r in order], fontsize=LABEL_SIZE - 1)
    right.set_ylabel(t("compare.rf_axis", lang), fontsize=LABEL_SIZE)
    _title(ax, t("compare.erf_title", lang), subtitle)
    return fig
