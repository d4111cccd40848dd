"""Predict-the-shape: the rule that gives a node its C×H×W, derived from the node's op, its inputs'
shapes in the trace and the layers on its edges — so the quiz can explain a wrong answer with the
learner's own numbers.

Each node op belongs to one rule kind (`KINDS`); each kind derives the shape (`derive_*`) and says
why in words (`TEXT`). Tests check that every kind derives the traced shape of every node of the
zoo, so an explanation can never contradict the answer it explains.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .analysis import Analysis
from .receptive_field import Layer
from .topology import Edge, Node

Shape = tuple[int, ...]

KINDS: dict[str, str] = {
    "input": "backbone", "backbone": "backbone",
    "lateral": "lateral",
    "conv": "conv", "aspp": "conv",
    "extra": "resample", "resize": "resample",
    "max-pool": "pool",
    "adaptive max-pool": "bins", "adaptive avg-pool": "bins",
    "add": "sum", "weighted sum": "sum", "SUM cell": "sum", "GP cell": "sum", "gate": "sum",
    "concat": "concat",
    "image pooling": "image pooling",
}

# The rules in words, one per kind, in one place for translation. {steps} lists how H and W come
# out of the edge's layers, {result} the derived C×H×W.
TEXT = {
    "backbone": ("A backbone level at stride s = 2^{level} = {stride}: every stride-2 layer halves H and W "
                 "rounding up (TF “SAME” padding), so H = ⌈{pic_h}/{stride}⌉ = {h} and W = ⌈{pic_w}/{stride}⌉ "
                 "= {w}; C is the channel count of that backbone stage, {c}. → **{result}**"),
    "lateral": ("A 1×1 lateral conv looks at one cell at a time, so H×W stay those of `{source}` ({hw}); it "
                "sets C to the neck's width, {c} (from `{source}`'s {c_in}). → **{result}**"),
    "conv": ("A conv sets C to its number of filters, {c} (from {c_in}); H×W follow its kernel, stride and "
             "padding: {steps}. → **{result}**"),
    "resample": ("This level is made by resampling `{source}` ({source_shape}): {steps}. C {channels}. "
                 "→ **{result}**"),
    "pool": ("A pooling window keeps C ({c}); stride 1 with padding ⌊k/2⌋ keeps H×W: {steps}. "
             "→ **{result}**"),
    "bins": ("Adaptive pooling cuts the map into a fixed {n}×{n} grid of bins whatever its size ({hw} here), "
             "one value per bin and channel: C stays {c}. → **{result}**"),
    "sum": ("A {what} adds its inputs cell by cell, so each is first brought to level {level}'s size {hw} "
            "({how}); the sum keeps that shape, and C is the shared width {c}. → **{result}**"),
    "concat": ("Concatenation stacks its inputs along the channels: H×W stay the same and C adds up, "
               "{sum} = {c}. → **{result}**"),
    "concat_vector": ("Flattening each pooled map and concatenating gives one vector whose length adds up "
                      "C·n·n per input: {sum} = {length}. → **{result}**"),
    "image pooling": ("Image pooling averages all {hw} cells of `{source}` to one 1×1 cell, a 1×1 conv sets C "
                      "to {c}, and the result is upsampled back to the input's {hw}. → **{result}**"),
    "same": "keeps {size}",
    "global": "global pool → 1",
    "up": "↑ to level {level}'s {size}",
    "down": "{k}×{k} stride {s} (pad {p}): ⌊({size} + 2·{p} − {k_eff})/{s}⌋ + 1 = {out}, {rounding}",
    "round_up": "÷{s} rounding up",
    "round_down": "÷{s} rounding down",
    "keeps_c": "stays {c}",
    "sets_c": "becomes {c}, the filters of the conv on the way",
    "sum_what": {"add": "sum", "weighted sum": "weighted sum", "SUM cell": "sum cell",
                 "GP cell": "global-pooling cell (B + attention·A; the attention is one weight per channel)",
                 "gate": "gate (w·new + (1 − w)·old)"},
    "ask": "**Step {k}: `{node}`** ({op}) from {inputs}. What is its C×H×W?",
    "ask_input": "`{source}` {shape} via {op}",
    "ask_backbone": ("**Step {k}: `{node}`** — the backbone's level {level} (stride {stride}) of the {w}×{h} "
                     "picture; the backbone's stages at strides {strides} have {channels} channels. "
                     "What is its C×H×W?"),
    "sum_how": "↑ nearest from coarser levels, pooling or stride-2 conv from finer ones",
}


@dataclass(frozen=True)
class Explanation:
    kind: str
    shape: Shape  # derived by the rule (tests assert it equals the traced shape)
    text: str  # Markdown: the rule with this node's numbers


def parse_shape(text: str) -> Shape | None:
    """A typed shape, leniently: "256x64x64", "256 × 64 × 64", "256,64,64", "(256, 64, 64)", or one
    number for a vector. None when it is not a list of whole numbers."""
    cleaned = re.sub(r"[()\[\]]", " ", str(text)).strip()
    parts = re.split(r"[x×X*,;\s]+", cleaned)  # a dangling separator leaves an empty part: rejected
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def shape_text(shape: Sequence[int]) -> str:
    return "×".join(map(str, shape))


def _shape(analysis: Analysis, node_id: str) -> Shape:
    return tuple(analysis.trace[node_id].shape[1:])


def level_size(analysis: Analysis, level: int) -> tuple[int, int]:
    """H×W of a pyramid level: that of the first node computed at it."""
    first = next(n.id for n in analysis.topology.nodes if n.level == level)
    return _shape(analysis, first)[1:3]


def _through(analysis: Analysis, size: int, layers: Sequence[Layer], level: int | None, axis: int) -> tuple[int, list[str]]:
    """One axis's size after an edge's layers, and each size-changing layer in words."""
    steps: list[str] = []
    for layer in layers:
        if layer.global_pool:
            size = 1
            steps.append(TEXT["global"])
        elif layer.upsample > 1:
            size = level_size(analysis, level)[axis]
            steps.append(TEXT["up"].format(level=level, size=size))
        elif layer.stride > 1:
            k_eff = layer.effective_kernel
            pad = (k_eff - 1) // 2 if layer.pad is None else layer.pad
            out = math.ceil(size / layer.stride) if layer.same else (size + 2 * pad - k_eff) // layer.stride + 1
            rounding = TEXT["round_up" if out == math.ceil(size / layer.stride) else "round_down"].format(s=layer.stride)
            steps.append(TEXT["down"].format(k=layer.kernel, s=layer.stride, p=pad, size=size, k_eff=k_eff, out=out,
                                             rounding=rounding))
            size = out
    return size, steps


def _spatial(analysis: Analysis, node: Node, edge: Edge) -> tuple[tuple[int, int], str]:
    """H×W of an edge's source after the edge's layers, and the steps in words."""
    _, h, w = _shape(analysis, edge.source)[:3]
    h2, steps_h = _through(analysis, h, edge.layers, node.level, 0)
    w2, steps_w = _through(analysis, w, edge.layers, node.level, 1)
    words = [f"H {a}; W {b}" for a, b in zip(steps_h, steps_w)]
    return (h2, w2), "; ".join(words) or TEXT["same"].format(size=f"{h}×{w}")


def _changes_channels(edge: Edge) -> bool:
    return "conv" in edge.op


def derive_backbone(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    pic_h, pic_w = analysis.picture.rgb.shape[:2]
    stride = 2 ** (node.level or 0)
    c = _shape(analysis, node.id)[0]  # the stage's channels: the backbone's, stated by its feature_info
    h, w = math.ceil(pic_h / stride), math.ceil(pic_w / stride)
    return (c, h, w), dict(level=node.level, stride=stride, pic_h=pic_h, pic_w=pic_w, h=h, w=w, c=c)


def derive_lateral(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    edge = node.inputs[0]
    c_in, h, w = _shape(analysis, edge.source)
    c = _shape(analysis, node.id)[0]  # the neck's width: a configuration choice, not derived
    return (c, h, w), dict(source=edge.source, hw=f"{h}×{w}", c=c, c_in=c_in)


def derive_conv(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    edge = node.inputs[0]
    (h, w), steps = _spatial(analysis, node, edge)
    c = _shape(analysis, node.id)[0]  # the conv's filters: a configuration choice, not derived
    return (c, h, w), dict(c=c, c_in=_shape(analysis, edge.source)[0], steps=steps)


def derive_resample(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    edge = node.inputs[0]
    (h, w), steps = _spatial(analysis, node, edge)
    c_in = _shape(analysis, edge.source)[0]
    c = _shape(analysis, node.id)[0] if _changes_channels(edge) else c_in
    channels = TEXT["sets_c" if _changes_channels(edge) else "keeps_c"].format(c=c)
    return (c, h, w), dict(source=edge.source, source_shape=shape_text(_shape(analysis, edge.source)),
                           steps=steps, channels=channels)


def derive_pool(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    edge = node.inputs[0]
    (h, w), steps = _spatial(analysis, node, edge)
    c = _shape(analysis, edge.source)[0]
    return (c, h, w), dict(c=c, steps=steps)


def derive_bins(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    edge = node.inputs[0]
    n = int(re.search(r"(\d+)×\1", edge.op).group(1))  # the op names its grid, "… 4×4"
    c, h, w = _shape(analysis, edge.source)
    return (c, n, n), dict(n=n, hw=f"{h}×{w}", c=c)


def derive_sum(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    """Sums need one shape: every input is resized to the node's level (nearest up, pooling or a
    stride-2 conv down — NAS-FPN's cells pad and pool to the exact size), so H×W are the level's."""
    h, w = level_size(analysis, node.level)
    kept = [_shape(analysis, e.source)[0] for e in node.inputs if not _changes_channels(e)]
    c = kept[0] if kept else _shape(analysis, node.id)[0]
    return (c, h, w), dict(what=TEXT["sum_what"].get(node.op, node.op), level=node.level, hw=f"{h}×{w}",
                           how=TEXT["sum_how"], c=c)


def derive_concat(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    shapes = [_shape(analysis, e.source) for e in node.inputs]
    if any("flatten" in e.op for e in node.inputs):
        sizes = [math.prod(s) for s in shapes]
        length = sum(sizes)
        return (length,), dict(sum=" + ".join("·".join(map(str, s)) for s in shapes), length=length,
                               variant="concat_vector")
    c = sum(s[0] for s in shapes)
    return (c, *shapes[0][1:]), dict(sum=" + ".join(str(s[0]) for s in shapes), c=c)


def derive_image_pooling(analysis: Analysis, node: Node) -> tuple[Shape, dict]:
    edge = node.inputs[0]
    _, h, w = _shape(analysis, edge.source)
    c = _shape(analysis, node.id)[0]
    return (c, h, w), dict(source=edge.source, hw=f"{h}×{w}", c=c)


DERIVE: dict[str, Callable[[Analysis, Node], tuple[Shape, dict]]] = {
    "backbone": derive_backbone, "lateral": derive_lateral, "conv": derive_conv, "resample": derive_resample,
    "pool": derive_pool, "bins": derive_bins, "sum": derive_sum, "concat": derive_concat,
    "image pooling": derive_image_pooling,
}


def explain(analysis: Analysis, node_id: str) -> Explanation:
    """The rule that gives `node_id` its shape, with this analysis's numbers."""
    node = analysis.topology.node(node_id)
    kind = KINDS.get(node.op)
    if kind is None:
        raise KeyError(f"no shape rule for op {node.op!r} (node {node_id})")
    shape, values = DERIVE[kind](analysis, node)
    template = TEXT[values.pop("variant", kind)]
    return Explanation(kind, shape, template.format(result=shape_text(shape), **values))


def question(analysis: Analysis, node_id: str) -> str:
    """What the learner sees before typing: the node, its op and its inputs with their shapes
    (earlier steps, already revealed) — never its own shape."""
    node = analysis.topology.node(node_id)
    k = analysis.topology.order.index(node_id)
    if node.is_input or KINDS.get(node.op) == "backbone":
        pic_h, pic_w = analysis.picture.rgb.shape[:2]
        channels = ", ".join(f"{i.channels}" for i in analysis.backbone.info)
        strides = "/".join(str(i.stride) for i in analysis.backbone.info)
        return TEXT["ask_backbone"].format(k=k, node=node_id, level=node.level, stride=2 ** (node.level or 0),
                                           w=pic_w, h=pic_h, channels=channels, strides=strides)
    inputs = "; ".join(TEXT["ask_input"].format(source=e.source, op=e.op, shape=shape_text(_shape(analysis, e.source)))
                       for e in node.inputs)
    return TEXT["ask"].format(k=k, node=node_id, op=node.op, inputs=inputs)


@dataclass(frozen=True)
class Verdict:
    right: bool
    answer: Shape
    given: Shape | None  # None: the answer could not be read
    explanation: Explanation


def check(analysis: Analysis, node_id: str, typed: str) -> Verdict:
    """Compare a typed shape with the node's shape in the trace."""
    answer = _shape(analysis, node_id)
    given = parse_shape(typed)
    return Verdict(given == answer, answer, given, explain(analysis, node_id))
