"""Chinese everywhere a teacher projects it: for every registered neck in its default configuration
on chelsea.png, in 中文, every word a learner reads — each step's narration, figure and graph title,
the lesson-mode guidance, the summary, the node table, the quiz, every lesson figure, the export's
progress lines — and the playground's presets, statuses and mutations hold no English word.

What may stay in Latin letters is explicit (`ALLOWED`, `CODE`): code names (node ids such as C3, P4,
N5, gp_64_4, a table's `cell 2` syntax), units, file formats, the necks' names and the papers they
cite. Code spans (`…`) in Markdown are code and are not read.
"""
from __future__ import annotations

import random
import re
from collections.abc import Iterator

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from necklab.i18n import t
from necklab.lab.analysis import Analysis, analyse
from necklab.lab.playground import mutate
from necklab.lab.shape_rules import explain
from necklab.lessons import lesson_figures
from necklab.lessons.base import step_nodes
from necklab.models.cell_design import PRESETS
from necklab.models.registry import NECKS
from necklab.pack.write import write_pack
from necklab.ui import playground_tab
from necklab.ui.neck_tab import graph_title, lesson_text, render_step, steps_of, summary
from necklab.ui.quiz import Score, answer, ask
from necklab.viz.graph import GraphPicture, focus_nodes
from necklab.viz.step import narration, node_table, opening_sheet, step_sheet
from necklab.widgets.session import Session

ZH = Session(lang="zh")
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_']*(?:\.[A-Za-z0-9_]+)*")  # a node id may be dotted: s1.gp_64_4
# Latin words a Chinese page keeps: names of things (necks, models, data sets, layers, formats,
# libraries), units, and the table's own syntax (`cell 2`, `sum`, typed by the learner).
ALLOWED = frozenset({
    "FPN", "PANet", "PAFPN", "BiFPN", "NAS", "ASPP", "SPP", "SPPF", "YOLO", "ASFF", "RFP", "DetectoRS",
    "EfficientNet", "EfficientDet", "Lite0", "ImageNet", "NeckLab", "ReLU", "ReLU6", "BN", "mmdetection",
    "mmcv", "PNG", "SVG", "CSV", "JSON", "ZIP", "px", "ms", "MB", "KiB", "dpi", "FLOPs", "GFLOPs", "cpu",
    "cuda", "ERF", "RF", "TensorFlow", "PyTorch", "mmdet", "cell", "sum", "Dropout", "AP", "mIoU",
    # functions and variables of formulas: B + sigmoid(GAP(B))·A, w = relu(raw) / Σ relu(raw), max |Δ|
    "softmax", "sigmoid", "swish", "SiLU", "LeakyReLU", "GAP", "relu", "raw", "max",
    "Luo",  # an author cited: (Luo 等，2016)
})
# Symbols: one letter (C×H×W, w, x), letters and digits (C3, P4, N5, s2, T4, pool13), a code name
# with underscores (gp_64_4, sum_44_4, P4_td).
CODE = re.compile(r"[A-Za-z]|[A-Za-z]+\d+[A-Za-z0-9_]*|[A-Za-z]+(?:_[A-Za-z0-9]+)+")


def cited() -> list[str]:
    """Titles and sources the pages cite as they are: papers, reference code, the necks' titles."""
    return sorted({text for spec in NECKS.values() for text in (spec.paper, spec.reference_source, spec.title)},
                  key=len, reverse=True)


def english_words(text: str, names: frozenset[str] = frozenset()) -> set[str]:
    """The Latin-letter words of a text that are neither allowed nor code names (`names`: the node
    ids of the neck on show)."""
    text = re.sub(r"`[^`]*`", " ", text)  # code spans are code
    # PyTorch's own refusal, quoted as it says it after the page's words ('PyTorch 拒绝：pad should be…')
    text = text.split(t("spp.refuses", "zh", error=""), 1)[0]
    text = re.sub(r"\]\([^)]*\)", "]", text)  # a link's target is a file name
    for citation in cited():
        text = text.replace(citation, " ")
    return {w for w in WORD.findall(text) if w not in ALLOWED and w not in names and not CODE.fullmatch(w)}


def figure_words(figure: Figure) -> list[str]:
    return [a.get_text() for a in figure.findobj(Text) if a.get_text()]


def leftovers(texts: Iterator[tuple[str, str]], names: frozenset[str] = frozenset()) -> list[str]:
    """'where: words' for each text with English in it."""
    found = []
    for where, text in texts:
        words = english_words(text, names)
        if words:
            found.append(f"{where}: {sorted(words)} in {text[:160]!r}")
    return found


@pytest.fixture(scope="module")
def analyses(chelsea) -> dict[str, Analysis]:
    return {}


def analysis_of(analyses: dict[str, Analysis], chelsea, key: str) -> Analysis:
    if key not in analyses:
        analyses[key] = analyse(chelsea, key)
    return analyses[key]


def node_names(analysis: Analysis) -> frozenset[str]:
    return frozenset(analysis.topology.order)


def neck_texts(analysis: Analysis) -> Iterator[tuple[str, str]]:
    """Every Markdown and table text of a neck's tab, in Chinese."""
    spec, order = NECKS[analysis.neck_name], analysis.topology.order
    yield "summary", summary(analysis, spec, "zh")
    yield "lesson intro", lesson_text(None, 0, "zh")
    for k, node in enumerate(order):  # one step per node ("show every step")
        yield f"graph title {node}", graph_title(analysis, k, "zh", every=True)
        yield f"narration {node}", narration(analysis, node, "zh")
        yield f"lesson {node}", lesson_text(analysis, k, "zh", every=True)
        yield f"quiz {node}", ask(ZH, analysis, k, every=True)
        yield f"explain {node}", explain(analysis, node, "zh").text
        if analysis.trace[node].dim() == 4:
            yield f"step maps {node}", "\n".join(step_sheet(analysis, node, lang="zh").words)
    # The opening step: the inputs and laterals shown together.
    yield "opening graph title", graph_title(analysis, 0, "zh")
    yield "opening narration", render_step(analysis, 0, "zh").narration
    yield "opening lesson", lesson_text(analysis, 0, "zh")
    yield "opening maps", "\n".join(opening_sheet(analysis, steps_of(analysis)[0], "zh").words)
    yield "opening quiz", ask(ZH, analysis, 0)
    yield "quiz answer", answer(ZH, analysis, 0, "1×1×1", Score()).feedback
    yield "quiz done", answer(ZH, analysis, len(order) - 1, "1×1×1", Score()).feedback
    for row in node_table(analysis, "zh"):
        yield f"table {row[1]}", " ".join(map(str, row))


# The necks whose default configuration stacks stages: seconds to analyse on two cores.
STACKED = {"nasfpn", "rfp"}


@pytest.mark.parametrize("key", [pytest.param(k, marks=pytest.mark.slow) if k in STACKED else k for k in NECKS])
def test_a_necks_words_are_chinese(analyses, chelsea, key):
    analysis = analysis_of(analyses, chelsea, key)
    found = leftovers(neck_texts(analysis), node_names(analysis))
    assert not found, "\n".join(found)


def neck_figures(analysis: Analysis) -> Iterator[tuple[str, Figure]]:
    """Every figure of a neck's lesson (all steps, not only the pack's), and the tab's graph of each step."""
    order = analysis.topology.order
    shapes = {node: tuple(x.shape) for node, x in analysis.trace.tensors.items()}
    for figure in lesson_figures(analysis, order, "zh"):
        yield figure.name, figure.make()
    for k, node in enumerate(order):
        graph = GraphPicture(analysis.topology, shapes, focus_nodes(analysis.topology, node), lang="zh")
        yield f"graph of step {k}", graph.figure(node, graph_title(analysis, k, "zh", every=True))


@pytest.mark.slow
@pytest.mark.parametrize("key", list(NECKS))
def test_a_necks_figures_are_chinese(analyses, chelsea, key):
    analysis = analysis_of(analyses, chelsea, key)
    found = []
    for where, figure in neck_figures(analysis):
        found += leftovers(((where, text) for text in figure_words(figure)), node_names(analysis))
        plt.close(figure)
    assert not found, "\n".join(found)


@pytest.mark.slow
def test_the_exports_progress_is_chinese(analyses, chelsea, tmp_path):
    analysis = analysis_of(analyses, chelsea, "pafpn")
    lines: list[str] = [t("export.start", "zh")]
    write_pack(analysis, tmp_path, lang="zh", zip=True, steps=step_nodes(analysis)[:2],
               progress=lambda fraction, text: lines.append(text))
    found = leftovers((f"progress {i}", line) for i, line in enumerate(lines))
    assert not found, "\n".join(found)


def playground_texts() -> Iterator[tuple[str, str]]:
    yield "cells label", playground_tab.cells_label("zh")
    yield "headers", " ".join(playground_tab.headers("zh"))
    for name, design in PRESETS.items():
        shown = playground_tab.load_preset(ZH, name)
        yield f"{name} button", playground_tab.preset_button("zh", name)
        yield f"{name} name", shown.name
        yield f"{name} notes", shown.notes
        yield f"{name} status", shown.status
        yield f"{name} table", " ".join(" ".join(row) for row in shown.table)
        yield f"{name} check", playground_tab.check(ZH, shown.table, shown.name)
        rng = random.Random(0)
        for i in range(12):  # every kind of change, on each preset
            yield f"{name} mutation {i}", mutate(design, rng, "zh")[1]


def test_the_playgrounds_words_are_chinese():
    found = leftovers(playground_texts())
    assert not found, "\n".join(found)


def test_the_check_sees_english():
    """The checks can fail: an English word in a figure or a narration is found; code names, units,
    code spans and a cited paper are not."""
    figure = Figure()
    figure.text(0.5, 0.5, "P4 的特征图 (feature map)")
    figure.suptitle("第 3 步：gp_64_4，3×3 s2，12 ms")
    assert english_words(" ".join(figure_words(figure))) == {"feature", "map"}
    assert english_words("L3 经 identity；T4 经 ↑ nearest", frozenset({"L3", "T4"})) == {"identity", "nearest"}
    paper = NECKS["fpn"].paper
    assert not english_words(f"见 {paper}；`out_channels=64`，C×H×W = 64×38×57，[图](figures/graph.png)")
    assert leftovers(iter([("narration", "最后一个节点 yes")])) == ["narration: ['yes'] in '最后一个节点 yes'"]


@pytest.mark.parametrize("key", ["pafpn", "spp", "aspp"])
def test_the_cell_views_words_are_chinese(analyses, chelsea, key):
    """'What does this cell see?' in 中文: the figure (with an ERF standing in for the backward pass),
    its words, the map to click's words at every step, and why a map has no cells."""
    import numpy as np

    from necklab.lab.cell import activation, cell_fields, cell_nodes
    from necklab.ui import cell_view
    from necklab.viz.cell import cell_figure, cell_note

    analysis = analysis_of(analyses, chelsea, key)
    names = node_names(analysis)
    texts = [("accordion", t("cell.accordion", "zh")), ("intro", t("cell.intro", "zh")),
             ("labels", " ".join(t(f"cell.{k}", "zh") for k in ("node", "pick", "figure", "none")))]
    for k, node in enumerate(analysis.topology.order):
        texts.append((f"follow {node}", cell_view.follow(ZH, analysis, k, every=True).note))
    node = cell_nodes(analysis)[-1]
    cell = (1, 2)
    fields, act = cell_fields(analysis, node, cell), activation(analysis, node, cell)
    erf = np.random.default_rng(0).random(analysis.picture.rgb.shape[:2])
    texts.append(("note", cell_note(analysis, node, cell, fields, act, erf, "zh")))
    figure = cell_figure(analysis, node, cell, fields, erf, act, "zh")
    texts += [("figure", text) for text in figure_words(figure)]
    plt.close(figure)
    found = leftovers(iter(texts), names)
    assert not found, "\n".join(found)


# Names the detection view keeps: the metrics (AP_S and AP50 read as code) and the heads' designs.
DETECTION_NAMES = frozenset({"AP", "mIoU", "FCOS", "DeepLab"})


@pytest.mark.parametrize("key", ["fpn", "aspp"])
def test_the_detection_views_words_are_chinese(chelsea, key):
    """The detections panel in 中文: its labels, the figure (with hand-made answers, so it does not
    depend on the shipped weights), its note, every reason for fresh weights, and the cell view's
    response at an output cell."""
    from dataclasses import replace

    import torch

    from necklab.lab.analysis import Answers, Weights
    from necklab.models.head import CLASS_NAMES, Detections
    from necklab.ui import detections_view
    from necklab.viz import detections as det

    analysis = analyse(chelsea, key, weights="fresh")
    k = len(CLASS_NAMES)
    if key == "aspp":
        h, w = analysis.trace["project"].shape[-2:]
        probs = torch.softmax(torch.randn(1 + k, h, w, generator=torch.Generator().manual_seed(0)) * 3, dim=0)
        answers, metrics = Answers(segmentation=probs), (("mIoU", 40.0),)
    else:
        levels = [analysis.topology.node(n).level for n in analysis.outputs]
        found = Detections(torch.tensor([[10.0, 10, 60, 80], [100, 40, 300, 280]]), torch.tensor([0.8, 0.6]),
                           torch.tensor([0, 3]), torch.tensor(levels[1:3]))
        heatmaps = {lv: torch.rand(k, *analysis.trace[n].shape[-2:]) for lv, n in zip(levels, analysis.outputs)}
        answers, metrics = Answers(detections=found, heatmaps=heatmaps), (("AP", 30.0), ("AP_S", 10.0))
    trained = replace(analysis, answers=answers, weights=Weights("trained", metrics=metrics), recipe=None,
                      _kept_as="")
    names = node_names(analysis) | DETECTION_NAMES
    texts = [(f"label {label}", t(f"det.{label}", "zh")) for label in ("accordion", "intro", "threshold", "figure",
                                                                       "closed")]
    texts.append(("note", det.detections_note(trained, 0.3, "zh")))
    texts.append(("closed note", detections_view.redraw(ZH, trained, 0.3, False, None).note))
    for reason in ("", "none_for_neck", "other_config", "missing_file", "bad_hash", "unreadable", "mismatch",
                   "no_task"):
        fresh = replace(analysis, weights=Weights("fresh", reason))
        texts.append((f"fresh {reason or 'chosen'}", det.detections_note(fresh, 0.3, "zh")))
    for threshold in (0.3, 0.95):  # with boxes, and with none above the threshold
        figure = det.detections_figure(trained, threshold, "zh")
        texts += [(f"figure at {threshold}", text) for text in figure_words(figure)]
        plt.close(figure)
    node = analysis.outputs[-1]
    panel = det.cell_response(trained, node, (1, 1), "zh")
    assert panel is not None
    figure = Figure()
    ax = figure.subplots()
    panel.draw(ax)
    texts += [("cell panel", panel.title), *(("cell panel", text) for text in figure_words(figure))]
    found = leftovers(iter(texts), names)
    assert not found, "\n".join(found)
