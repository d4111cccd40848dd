"""Predict-the-shape: the rule that gives a node its C×H×W, derived from the node's op, its inputs'
shapes in the trace and the layers on its edges — so the quiz can explain a wrong answer with the
learner's own numbers.

Each node op carries its rule kind (`Op.rule`); each kind derives the shape (`derive_*`) and says
why in words, in English or Chinese (`quiz.rule.*` in assets/i18n/<lang>.json). Tests check that
every kind derives the traced shape of every node of the zoo, so an explanation can never
contradict the answer it explains.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from necklab.graph.receptive_field import Layer
from necklab.graph.topology import Edge, Move, Node, Rule, Step
from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.pyramid import level_of
from necklab.lab.words import edge_label, op_name, step_label

Shape = tuple[int, ...]
Fields = dict[str, Any]  # a rule's numbers, the fields of its words

# The rules in words live in the data files (assets/i18n/<lang>.json), one per kind under
# `quiz.rule.<kind>`, and the names of the summing ops under `quiz.what.<op>`. {steps} lists how H
# and W come out of the edge's layers, {result} the derived C×H×W.
def _text(key: str, lang: str = "en", **fields: Any) -> str:
    return t(f"quiz.rule.{key}", lang, **fields)


@dataclass(frozen=True)
class Explanation:
    kind: Rule
    shape: Shape  # derived by the rule (tests assert it equals the traced shape)
    text: str  # Markdown: the rule with this node's numbers


MAX_ANSWER = 60  # characters of a typed shape: "1024 × 1024 × 1024" with room to spare


def parse_shape(text: str) -> Shape | None:
    """A typed shape, leniently: "256x64x64", "256 × 64 × 64", "256,64,64", "(256, 64, 64)", or one
    number for a vector. None when it is not a list of whole numbers, or longer than MAX_ANSWER."""
    if len(str(text)) > MAX_ANSWER:
        return None
    cleaned = re.sub(r"[()\[\]]", " ", str(text)).strip()
    parts = re.split(r"[x×X*,;\s]+", cleaned)  # a dangling separator leaves an empty part: rejected
    # ASCII digits only: str.isdigit() also accepts "²" or "①", which int() cannot read
    if not all(p.isascii() and p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))


def _shape(analysis: Analysis, node_id: str) -> Shape:
    return tuple(analysis.trace[node_id].shape[1:])


def level_size(analysis: Analysis, level: int) -> tuple[int, int]:
    """H×W of a pyramid level: that of the first node computed at it."""
    first = next(n.id for n in analysis.topology.nodes if n.level == level)
    h, w = _shape(analysis, first)[1:3]
    return h, w


def _through(analysis: Analysis, size: int, layers: Sequence[Layer], level: int | None, axis: int,
             lang: str = "en") -> tuple[int, list[str]]:
    """One axis's size after an edge's layers, and each size-changing layer in words."""
    steps: list[str] = []
    for layer in layers:
        if layer.global_pool:
            size = 1
            steps.append(_text("global", lang))
        elif layer.upsample > 1:
            if level is None:
                raise ValueError("an upsampling edge leads to a node without a pyramid level")
            size = level_size(analysis, level)[axis]
            steps.append(_text("up", lang, level=level, size=size))
        elif layer.stride > 1:
            k_eff = layer.effective_kernel
            pad = (k_eff - 1) // 2 if layer.pad is None else layer.pad
            out = math.ceil(size / layer.stride) if layer.same else (size + 2 * pad - k_eff) // layer.stride + 1
            rounded_up = out == math.ceil(size / layer.stride)
            rounding = _text("round_up" if rounded_up else "round_down", lang, s=layer.stride)
            steps.append(_text("down", lang, k=layer.kernel, s=layer.stride, p=pad, size=size, k_eff=k_eff, out=out,
                                rounding=rounding))
            size = out
    return size, steps


def _spatial(analysis: Analysis, node: Node, edge: Edge, lang: str = "en") -> tuple[tuple[int, int], str]:
    """H×W of an edge's source after the edge's layers, and the steps in words."""
    _, h, w = _shape(analysis, edge.source)[:3]
    h2, steps_h = _through(analysis, h, edge.layers, node.level, 0, lang)
    w2, steps_w = _through(analysis, w, edge.layers, node.level, 1, lang)
    words = [_text("axes", lang, h=a, w=b) for a, b in zip(steps_h, steps_w)]
    return (h2, w2), _text("sep", lang).join(words) or _text("same", lang, size=f"{h}×{w}")


def derive_backbone(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    pic_h, pic_w = analysis.picture.rgb.shape[:2]
    stride = 2 ** (node.level or 0)
    c = _shape(analysis, node.id)[0]  # the stage's channels: the backbone's, stated by its feature_info
    h, w = math.ceil(pic_h / stride), math.ceil(pic_w / stride)
    return (c, h, w), dict(level=node.level, stride=stride, pic_h=pic_h, pic_w=pic_w, h=h, w=w, c=c)


def derive_lateral(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    edge = node.inputs[0]
    c_in, h, w = _shape(analysis, edge.source)
    c = _shape(analysis, node.id)[0]  # the neck's width: a configuration choice, not derived
    return (c, h, w), dict(source=edge.source, hw=f"{h}×{w}", c=c, c_in=c_in)


def derive_conv(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    edge = node.inputs[0]
    (h, w), steps = _spatial(analysis, node, edge, lang)
    c = _shape(analysis, node.id)[0]  # the conv's filters: a configuration choice, not derived
    return (c, h, w), dict(c=c, c_in=_shape(analysis, edge.source)[0], steps=steps)


def derive_resample(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    edge = node.inputs[0]
    (h, w), steps = _spatial(analysis, node, edge, lang)
    c_in = _shape(analysis, edge.source)[0]
    c = _shape(analysis, node.id)[0] if edge.changes_channels else c_in
    channels = _text("sets_c" if edge.changes_channels else "keeps_c", lang, c=c)
    return (c, h, w), dict(source=edge.source, source_shape=shape_text(_shape(analysis, edge.source)),
                           steps=steps, channels=channels)


def derive_pool(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    edge = node.inputs[0]
    (h, w), steps = _spatial(analysis, node, edge, lang)
    c = _shape(analysis, edge.source)[0]
    return (c, h, w), dict(c=c, steps=steps)


def derive_bins(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    edge = node.inputs[0]
    n = next(step.bins for step in edge.steps if step.move is Move.ADAPTIVE_POOL)
    c, h, w = _shape(analysis, edge.source)
    return (c, n, n), dict(n=n, hw=f"{h}×{w}", c=c)


def derive_sum(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    """Sums need one shape: every input is resized to the node's level (nearest up, pooling or a
    stride-2 conv down — NAS-FPN's cells pad and pool to the exact size), so H×W are the level's."""
    h, w = level_size(analysis, level_of(node))
    kept = [_shape(analysis, e.source)[0] for e in node.inputs if not e.changes_channels]
    c = kept[0] if kept else _shape(analysis, node.id)[0]
    return (c, h, w), dict(what=t(f"quiz.what.{node.op}", lang), level=node.level, hw=f"{h}×{w}",
                           how=_text("sum_how", lang), c=c)


def derive_concat(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    shapes = [_shape(analysis, e.source) for e in node.inputs]
    if any(step.move is Move.FLATTEN_CONCAT for e in node.inputs for step in e.steps):
        sizes = [math.prod(s) for s in shapes]
        length = sum(sizes)
        return (length,), dict(sum=" + ".join("·".join(map(str, s)) for s in shapes), length=length,
                               variant="concat_vector")
    c = sum(s[0] for s in shapes)
    return (c, *shapes[0][1:]), dict(sum=" + ".join(str(s[0]) for s in shapes), c=c)


def derive_image_pooling(analysis: Analysis, node: Node, lang: str = "en") -> tuple[Shape, Fields]:
    edge = node.inputs[0]
    _, h, w = _shape(analysis, edge.source)
    c = _shape(analysis, node.id)[0]
    return (c, h, w), dict(source=edge.source, hw=f"{h}×{w}", c=c)


DERIVE: dict[Rule, Callable[[Analysis, Node, str], tuple[Shape, Fields]]] = {
    Rule.BACKBONE: derive_backbone, Rule.LATERAL: derive_lateral, Rule.CONV: derive_conv,
    Rule.RESAMPLE: derive_resample, Rule.POOL: derive_pool, Rule.BINS: derive_bins, Rule.SUM: derive_sum,
    Rule.CONCAT: derive_concat, Rule.IMAGE_POOLING: derive_image_pooling,
}


def explain(analysis: Analysis, node_id: str, lang: str = "en") -> Explanation:
    """The rule that gives `node_id` its shape, with this analysis's numbers, in `lang`."""
    node = analysis.topology.node(node_id)
    kind = node.op.rule
    shape, values = DERIVE[kind](analysis, node, lang)
    return Explanation(kind, shape, _text(values.pop("variant", kind), lang, result=shape_text(shape), **values))


def _factor_holds(step: Step, source: Sequence[int], target: Sequence[int]) -> bool:
    """Whether an ↑f / ↓f step takes the source's H×W exactly to the target's (f·H, or H/f with no
    remainder) — on odd sizes the levels' factor often does not: P6 5×7 → P4 19×29 is no ↑4."""
    f = step.factor or 1
    if step.move is Move.UP:
        return all(a * f == b for a, b in zip(source, target, strict=True))
    return all(a == b * f for a, b in zip(source, target, strict=True))


def sized_edge_label(analysis: Analysis, node: Node, edge: Edge, lang: str = "en") -> str:
    """An input's edge as it acts on this picture — in the quiz's questions, the narration and the
    node table: the graph's label, except a ↑f / ↓f whose factor does not hold here, which is worded
    as what the layer does instead.

    Into a node whose level an earlier node already has (a merge), such a step resizes to that
    level's size: it says "to level N's size" rather than the size itself, which in the quiz is the
    answer's H×W — the learner finds it at the earlier step of that level, so the question stays a
    question and stays answerable. Into the first node of a level (an extra level, made by a pool),
    the pool's window and stride are what make the size: it names them (from the edge's layer with
    that stride), and the size follows from the usual ⌊(n + 2p − k)/s⌋ + 1."""
    source, target = _shape(analysis, edge.source)[1:3], _shape(analysis, node.id)[1:3]
    level_known = next(n.id for n in analysis.topology.nodes if n.level == node.level) != node.id
    worded = []
    for step in edge.steps:
        if step.move not in (Move.UP, Move.DOWN) or step.factor is None or _factor_holds(step, source, target):
            worded.append(step_label(step, lang))
        elif level_known or step.move is Move.UP:
            worded.append(t(f"edge.{step.move}_to_level", lang, level=node.level))
        else:
            pool = next(layer for layer in edge.layers if layer.stride == step.factor)
            worded.append(t("edge.max_pool_strided", lang, k=pool.kernel, s=pool.stride))
    return edge_label(edge, lang, worded=worded)


def question(analysis: Analysis, node_id: str, lang: str = "en", k: int | None = None) -> str:
    """What the learner sees before typing: the node, its op and its inputs with their shapes
    (earlier steps, already revealed) — never its own shape. `k`: the node's step (default: its
    place in execution order)."""
    node = analysis.topology.node(node_id)
    k = analysis.topology.order.index(node_id) if k is None else k
    if node.is_input or node.op.rule is Rule.BACKBONE:
        pic_h, pic_w = analysis.picture.rgb.shape[:2]
        channels = ", ".join(f"{i.channels}" for i in analysis.backbone.info)
        strides = "/".join(str(i.stride) for i in analysis.backbone.info)
        return _text("ask_backbone", lang, k=k, node=node_id, level=node.level, stride=2 ** (node.level or 0),
                     w=pic_w, h=pic_h, channels=channels, strides=strides)
    inputs = _text("sep", lang).join(
        _text("ask_input", lang, source=e.source, op=sized_edge_label(analysis, node, e, lang),
              shape=shape_text(_shape(analysis, e.source)))
        for e in node.inputs)
    return _text("ask", lang, k=k, node=node_id, op=op_name(node.op, lang), inputs=inputs)


def quiz_nodes(analysis: Analysis, candidates: Sequence[str]) -> list[str]:
    """One question per rule kind for a written quiz: of `candidates`, the last node of each kind,
    in execution order (a lesson shows the first of a kind; the quiz asks the learner to carry the
    rule over to a later one)."""
    last = {analysis.topology.node(n).op.rule: n for n in candidates}
    return [n for n in candidates if n in last.values()]


@dataclass(frozen=True)
class Verdict:
    right: bool
    answer: Shape
    given: Shape | None  # None: the answer could not be read
    explanation: Explanation


def check(analysis: Analysis, node_id: str, typed: str, lang: str = "en") -> Verdict:
    """Compare a typed shape with the node's shape in the trace; the explanation is in `lang`."""
    answer = _shape(analysis, node_id)
    given = parse_shape(typed)
    return Verdict(given == answer, answer, given, explain(analysis, node_id, lang))
