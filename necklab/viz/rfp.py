"""Recursive-FPN's lesson: the unrolled computation (backbone → FPN → feedback ASPP → backbone again
→ the same FPN → gated fusion) with each part's parameters, both passes' outputs side by side, and
the gate maps. What the figures say about the passes and the gate is computed from the trace: with
the reference initialisation pass 2 equals pass 1 and the gate is ½, and the titles say so."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass
from unicodedata import east_asian_width

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from necklab.graph.topology import Op
from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.pyramid import level_of, stage_of
from necklab.lab.words import is_trained, shown_words, weights_words
from necklab.viz.graph import OKABE_ITO
from necklab.viz.maps import LABEL_SIZE, TITLE_SIZE, mean_map, overlay_heatmap

PART_COLOURS = {"picture": "#DDDDDD", "backbone": OKABE_ITO[1], "fpn": OKABE_ITO[0], "aspp": OKABE_ITO[6],
                "gate": OKABE_ITO[2], "outputs": "#DDDDDD"}
RELATIVE_TOLERANCE = 1e-5  # a pass difference this small next to the features is float rounding
PANEL_WIDTH = 3.0  # inches per map panel
MAX_PANEL_HEIGHT = 3.8
BOX_HEIGHT = 1.15  # schematic boxes, data units
ROW_GAP = 3.6  # between the passes of the schematic


@dataclass(frozen=True)
class Fusion:
    """One gated fusion: out = w·new + (1 − w)·old, with w = σ(1×1 conv(new))."""

    step: int  # the pass that computed `new` (2, 3, …)
    level: int
    new: str  # this pass's FPN output
    old: str  # the previous pass's output (pass 1's FPN output, or the previous fusion)
    out: str
    gate: np.ndarray  # H×W, mean over the gate's channels (it has one)
    max_difference: float  # max |new − old|
    scale: float  # max |old|, to tell a real difference from float rounding


def fusions(analysis: Analysis) -> list[Fusion]:
    """Every gated fusion of an RFP analysis in execution order, read from its topology and trace."""
    found = []
    for node in analysis.topology.nodes:
        if node.op is not Op.GATE:
            continue
        new, old = (edge.source for edge in node.inputs)
        difference = (analysis.trace[new] - analysis.trace[old]).abs().max()
        found.append(Fusion(stage_of(node), level_of(node), new, old, node.id,
                            mean_map(analysis.trace.extras[node.id]["gate"]), float(difference),
                            float(analysis.trace[old].abs().max())))
    return found


def _by_pass_and_level(found: list[Fusion]) -> tuple[list[int], list[int], dict[tuple[int, int], Fusion]]:
    """The passes (2, 3, …) and levels of the fusions, and each fusion by (pass, level)."""
    return (sorted({f.step for f in found}), sorted({f.level for f in found}),
            {(f.step, f.level): f for f in found})


def _identical(fusion: Fusion) -> bool:
    return fusion.max_difference <= RELATIVE_TOLERANCE * fusion.scale


def _difference_text(fusion: Fusion, lang: str = "en") -> str:
    verdict = (t("rfp.identical", lang) if fusion.max_difference == 0 else
               t("rfp.rounding", lang) if _identical(fusion) else "")
    return t("rfp.difference", lang, step=fusion.step, prev=fusion.step - 1, diff=f"{fusion.max_difference:.3g}",
             verdict=verdict)


def _verdict(analysis: Analysis, found: list[Fusion], lang: str = "en") -> str:
    """What the data shows about the feedback, in one line."""
    if all(_identical(f) for f in found) and all(np.all(f.gate == 0.5) for f in found):
        return shown_words("rfp.verdict_same", analysis.weights, lang)
    biggest = max(f.max_difference for f in found)
    return shown_words("rfp.verdict_differ", analysis.weights, lang, biggest=f"{biggest:.3g}",
                       init=_init_words(analysis, lang))


def _init_words(analysis: Analysis, lang: str) -> str:
    """The feedback weights as the tab's control names them in `lang`."""
    return t(f"control.feedback_{analysis.config.get('feedback_init', 'reference')}", lang)


def _fill(line: str, columns: int) -> str:
    """Wrap a line to `columns` character widths; wide (CJK) characters count twice and may break
    anywhere, since such text has no spaces to break at."""
    if not any(east_asian_width(c) in "WF" for c in line):
        return textwrap.fill(line, columns)
    lines: list[str] = []
    current, width = "", 0
    for c in line:
        w = 2 if east_asian_width(c) in "WF" else 1
        if width + w > columns:
            lines, current, width = lines + [current], "", 0
        current, width = current + c, width + w
    return "\n".join(lines + [current])


def _suptitle(fig: Figure, *lines: str) -> None:
    """A suptitle whose lines wrap to the figure's width."""
    chars = int(fig.get_figwidth() * 9.5)  # characters of TITLE_SIZE − 1 per inch of figure, roughly
    fig.suptitle("\n".join(_fill(line, chars) for line in lines), fontsize=TITLE_SIZE - 1)


def _panel_size(analysis: Analysis) -> tuple[float, float]:
    """Inches per map panel: a fixed width (so the titles fit), the picture's height up to a limit."""
    w, h = analysis.picture.original_size
    return PANEL_WIDTH, min(MAX_PANEL_HEIGHT, PANEL_WIDTH * h / w)


def _tidy(axes: np.ndarray) -> None:
    """Axis labels only on the left column and the bottom row."""
    rows, cols = axes.shape
    for (r, c), ax in np.ndenumerate(axes):
        if c:
            ax.set_ylabel("")
        if r < rows - 1:
            ax.set_xlabel("")


def passes_figure(analysis: Analysis, lang: str = "en") -> Figure:
    """For every output level (columns, one colour scale each): pass 1's output, then each later
    pass's FPN output with its largest difference from the previous pass, and the gated fusion."""
    found = fusions(analysis)
    steps, levels, by_key = _by_pass_and_level(found)
    panel_w, panel_h = _panel_size(analysis)
    rows = 1 + 2 * len(steps)
    fig = Figure(figsize=(len(levels) * panel_w + 0.8, rows * (panel_h + 0.6) + 1.7), layout="constrained")
    axes = fig.subplots(rows, len(levels), squeeze=False)
    for column, level in zip(axes.T, levels):
        first = by_key[(steps[0], level)]
        panels = [(first.old, t("rfp.pass1", lang, node=first.old))]
        for step in steps:
            f = by_key[(step, level)]
            panels += [(f.new, t("rfp.pass_n", lang, step=step, node=f.new, difference=_difference_text(f, lang))),
                       (f.out, t("rfp.fused", lang, node=f.out, mean=f"{f.gate.mean():.3f}"))]
        maps = [mean_map(analysis.trace[node]) for node, _ in panels]
        low, high = min(m.min() for m in maps), max(m.max() for m in maps)
        for ax, values, (_, title) in zip(column, maps, panels):
            im = overlay_heatmap(ax, analysis.picture, values, analysis.grid(level), lang=lang)
            im.set_clim(low, high)
            ax.set_title(title, fontsize=LABEL_SIZE - 1)
        bar = fig.colorbar(im, ax=column, location="bottom", shrink=0.9, pad=0.01)
        bar.set_label(t("rfp.level_bar", lang, level=level, stride=2 ** level), fontsize=LABEL_SIZE - 2)
        bar.ax.xaxis.set_major_locator(MaxNLocator(5))
        bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
    _tidy(axes)
    _suptitle(fig, t("rfp.passes_suptitle", lang), _verdict(analysis, found, lang))
    return fig


def gates_figure(analysis: Analysis, lang: str = "en") -> Figure:
    """The gate w = σ(1×1 conv(new)) of every fusion (rows: passes, columns: levels) on one 0…1 scale."""
    found = fusions(analysis)
    steps, levels, by_key = _by_pass_and_level(found)
    panel_w, panel_h = _panel_size(analysis)
    fig = Figure(figsize=(len(levels) * panel_w + 1.4, len(steps) * (panel_h + 1.0) + 1.4), layout="constrained")
    axes = fig.subplots(len(steps), len(levels), squeeze=False)
    for row, step in zip(axes, steps):
        for ax, level in zip(row, levels):
            f = by_key[(step, level)]
            im = overlay_heatmap(ax, analysis.picture, f.gate, analysis.grid(level), alpha=0.75, lang=lang)
            im.set_clim(0, 1)
            ax.set_title(t("rfp.gate_title", lang, node=f.out, stride=2 ** level, mean=f"{f.gate.mean():.3f}",
                           min=f"{f.gate.min():.3f}", max=f"{f.gate.max():.3f}"), fontsize=LABEL_SIZE - 1)
    bar = fig.colorbar(im, ax=axes, shrink=0.8, pad=0.01)
    bar.set_label(t("rfp.gate_bar", lang), fontsize=LABEL_SIZE - 1)
    bar.ax.tick_params(labelsize=LABEL_SIZE - 3)
    _tidy(axes)
    note = shown_words("rfp.gate_half" if all(np.all(f.gate == 0.5) for f in found) else "rfp.gate", analysis.weights,
                       lang)
    _suptitle(fig, t("rfp.gates_suptitle", lang), note)
    return fig


def _group(analysis: Analysis, step: int, op: Op | None) -> list[str]:
    """Node ids of one part of pass `step`: `op` names it; None is the FPN (every other op)."""
    parts = {Op.ASPP, Op.BACKBONE, Op.GATE}
    return [n.id for n in analysis.topology.nodes if n.stage == step
            and (n.op == op if op else n.op not in parts)]


def _levels_text(analysis: Analysis, nodes: list[str], prefix: str) -> str:
    levels = sorted({level_of(analysis.topology.node(n)) for n in nodes})
    return f"{prefix}{levels[0]}…{prefix}{levels[-1]}"


def _box(ax: Axes, x: float, y: float, text: str, part: str, width: float, height: float = BOX_HEIGHT) -> None:
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.04",
                                fc=PART_COLOURS[part], ec="#333333", alpha=0.55))
    ax.text(x, y, text, ha="center", va="center", fontsize=LABEL_SIZE - 1, linespacing=1.35)


def _arrow(ax: Axes, a: tuple[float, float], b: tuple[float, float], label: str, at: float = 0.5,
           offset: tuple[float, float] = (0.0, 0.0), ha: str = "center") -> None:
    """An arrow a → b labelled with its op at fraction `at` along it, shifted by `offset`."""
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=16, color="#333333", lw=1.4,
                                 shrinkA=0, shrinkB=0))
    x, y = a[0] + (b[0] - a[0]) * at + offset[0], a[1] + (b[1] - a[1]) * at + offset[1]
    ax.text(x, y, label, ha=ha, va="center", fontsize=LABEL_SIZE - 2, style="italic", linespacing=1.25,
            bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))


def unrolled_figure(analysis: Analysis, lang: str = "en") -> Figure:
    """The computation unrolled, one row per pass: picture → backbone → FPN in pass 1; then the
    feedback ASPP on the previous pass's outputs, the backbone again with the feedback added, the same
    FPN and the gate. Each box carries the parameters of its part (from the per-node counts)."""
    params = analysis.node_params
    steps = sorted({stage_of(n) for n in analysis.topology.nodes if n.op is Op.GATE})
    fpn1 = _group(analysis, 1, None)
    fpn_params = sum(params[n] for n in fpn1)
    # The ASPP and the gate conv are one module each, run at every level of every pass: each node's
    # count is that whole module, so one node's count is the module's.
    aspp_params = max(params[n] for s in steps for n in _group(analysis, s, Op.ASPP))
    gate_params = max(params[n] for s in steps for n in _group(analysis, s, Op.GATE))
    inputs = [n for n in analysis.topology.inputs if n != "image"]
    c_range = f"{inputs[0]}…{inputs[-1]}"
    p_range = _levels_text(analysis, [n for n in fpn1 if analysis.topology.node(n).op in (Op.CONV, Op.EXTRA)], "P")

    # Column centres and box widths (data units; the axes keep them square).
    x_pic, x_back, x_aspp, x_fpn, x_gate, x_out = 0.0, 3.8, 5.9, 7.7, 11.6, 14.9
    w_pic, w_back, w_aspp, w_fpn, w_gate, w_out = 1.9, 2.8, 3.0, 2.8, 2.6, 2.0
    half = BOX_HEIGHT / 2
    rows = {step: -ROW_GAP * (step - 1) for step in [1] + steps}
    last = rows[steps[-1]]
    bottom, left, right = last - half - 0.3, x_pic - 2.5, x_out + w_out / 2 + 0.2
    fig = Figure(figsize=(16, 16 * (0.9 - bottom) / (right - left) + 1.0), layout="constrained")
    ax = fig.add_subplot()
    _box(ax, x_pic, last / 2, t("rfp.picture_box", lang), "picture", w_pic,
         height=BOX_HEIGHT - last)
    for step, y in rows.items():
        ax.text(x_pic - w_pic / 2 - 0.25, y, t("rfp.pass", lang, step=step), ha="right", va="center",
                fontsize=LABEL_SIZE + 1, fontweight="bold")
        _arrow(ax, (x_pic + w_pic / 2, y), (x_back - w_back / 2, y),
               t("rfp.picture" if step == 1 else "rfp.same_picture", lang),
               offset=(0.0, 0.3))
        _arrow(ax, (x_back + w_back / 2, y), (x_fpn - w_fpn / 2, y),
               c_range if step == 1 else t("rfp.new", lang, range=c_range),
               offset=(0.0, 0.45 if step > 1 else 0.3))
    _box(ax, x_back, 0, t("rfp.backbone1", lang, range=c_range), "backbone", w_back)
    _box(ax, x_fpn, 0, t("rfp.fpn1", lang, range=p_range, params=f"{fpn_params:,}"), "fpn", w_fpn)
    previous = (x_fpn - 0.3, -half)  # where the previous pass's outputs leave: FPN 1's bottom
    old_from = (x_fpn + w_fpn / 2, -0.25)
    for step in steps:
        y = rows[step]
        y_aspp = y + ROW_GAP / 2
        aspp = _group(analysis, step, Op.ASPP)
        back = _group(analysis, step, Op.BACKBONE)
        strides = "/".join(str(2 ** level_of(analysis.topology.node(n))) for n in aspp)
        weights = t("rfp.aspp_params", lang, params=f"{aspp_params:,}") if step == 2 else t("rfp.aspp_same", lang)
        _box(ax, x_aspp, y_aspp, t("rfp.aspp_box", lang, weights=weights), "aspp", w_aspp)
        source = _levels_text(analysis, aspp, "P" if step == 2 else "G")
        _arrow(ax, previous, (x_aspp + 0.6, y_aspp + half),
               source if step == 2 else t("rfp.fused_source", lang, source=source), offset=(0.15, 0.0), ha="left")
        down = (x_aspp - w_aspp / 2 + x_back + w_back / 2) / 2  # where the ASPP and the backbone overlap
        _arrow(ax, (down, y_aspp - half), (down, y + half),
               t("rfp.feedback", lang, levels=_levels_text(analysis, aspp, "A"), strides=strides),
               offset=(-0.25, 0.1), ha="right")
        _box(ax, x_back, y, t("rfp.backbone_n", lang, step=step, params=f"{sum(params[n] for n in back):,}"),
             "backbone", w_back)
        _box(ax, x_fpn, y, t("rfp.fpn_n", lang, step=step, range=p_range), "fpn", w_fpn)
        shared = t("rfp.gate_params", lang, params=f"{gate_params:,}") if step == 2 else t("rfp.gate_same", lang)
        _box(ax, x_gate, y, t("rfp.gate_box", lang, shared=shared), "gate", w_gate)
        outputs = _levels_text(analysis, _group(analysis, step, Op.GATE), "G")
        _box(ax, x_out, y, t("rfp.outputs_box", lang, levels=outputs), "outputs", w_out)
        _arrow(ax, (x_fpn + w_fpn / 2, y), (x_gate - w_gate / 2, y), t("rfp.new", lang, range=p_range),
               offset=(0.0, 0.45))
        _arrow(ax, old_from, (x_gate, y + half),
               t("rfp.old", lang, range=p_range) if step == 2 else t("rfp.old_fused", lang),
               at=0.45, offset=(0.15, 0.0), ha="left")
        _arrow(ax, (x_gate + w_gate / 2, y), (x_out - w_out / 2, y), t("rfp.mix", lang), offset=(0.0, 0.5))
        previous, old_from = (x_out - 0.5, y - half), (x_out + 0.3, y - half)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, 0.9)
    ax.set_aspect("equal")
    ax.axis("off")
    init = analysis.config.get("feedback_init", "reference")
    init_note = (t("rfp.init_trained", lang, weights=weights_words(analysis.weights, lang))
                 if is_trained(analysis.weights) else
                 t("rfp.init_reference" if init == "reference" else "rfp.init_random", lang))
    total = fpn_params + aspp_params + gate_params
    _suptitle(fig, t("rfp.unrolled_suptitle", lang, passes=len(steps) + 1, fpn=f"{fpn_params:,}",
                     aspp=f"{aspp_params:,}", gate=f"{gate_params:,}", total=f"{total:,}"),
              t("rfp.unrolled_note", lang, init=_init_words(analysis, lang), note=init_note))
    return fig
