"""Lesson mode: for any neck and configuration, what to look at in the graph and the feature map at
each step, ending with the neck's key idea and its paper. The guidance is chosen from what the node
is made of — its op and, where the op alone does not say, how its inputs arrive (an upsampled
coarser level, a finer level shrunk by a strided conv, a dilated kernel) — so it is true of the node
it describes. The words are in assets/i18n (lesson.op.*, lesson.dilated.*, lesson.idea.*)."""
from __future__ import annotations

from typing import Any

from necklab.graph.topology import Edge, Move, Node, Op, Step
from necklab.i18n import has, t
from necklab.lab.analysis import Analysis
from necklab.lab.words import cell_name_words, step_label
from necklab.models.registry import NECKS


def op_key(op: Op) -> str:
    """The lesson text key of a node op (Op.ADAPTIVE_MAX_POOL → lesson.op.adaptive_max_pool)."""
    key = f"lesson.op.{op}"
    return key if has(key) else "lesson.op.other"


def _shrinking(edge: Edge) -> Step | None:
    """The step that brings a finer level down to the node's grid (a strided conv or pool)."""
    return next((s for s in edge.steps if s.move is Move.DOWN
                 or (s.move in (Move.CONV, Move.MAX_POOL) and s.stride > 1)), None)


def dilated_taps(h: int, w: int, rate: int) -> int:
    """How many of a 3×3 kernel's taps, `rate` cells apart, land on an h×w map at its centre cell."""
    def along(size: int) -> int:
        return sum(0 <= size // 2 + d * rate < size for d in (-1, 0, 1))
    return along(h) * along(w)


def guidance(analysis: Analysis, node: Node, lang: str) -> tuple[str, dict[str, Any]]:
    """The key of the lesson text for `node` and the fields it needs beyond node, shape and stride."""
    upsampled = any(s.move is Move.UP for e in node.inputs for s in e.steps)
    shrinks = [step for e in node.inputs if (step := _shrinking(e)) is not None]
    if node.op is Op.ADD:
        if upsampled:
            return "lesson.op.add_topdown", {}
        if shrinks:
            return "lesson.op.add_bottomup", {"how": step_label(shrinks[0], lang)}
        return "lesson.op.add_generic", {}
    if node.op is Op.RESIZE:
        if upsampled:
            return "lesson.op.resize_up", {}
        return "lesson.op.resize_down", {"how": step_label(shrinks[0], lang)}
    rates = [s.rate for e in node.inputs for s in e.steps if s.move is Move.CONV and s.rate > 1]
    if node.op is Op.CONV and rates:
        _, h, w = analysis.trace[node.inputs[0].source].shape[1:]
        inside = dilated_taps(h, w, rates[0])
        coverage = "all" if inside == 9 else "centre" if inside == 1 else "some"
        hw = f"{h}×{w}"
        return "lesson.op.conv_dilated", {"r": rates[0], "hw": hw, "coverage": t(
            f"lesson.dilated.{coverage}", lang, hw=hw, inside=inside, r=rates[0], s=2 * rates[0] + 1)}
    return op_key(node.op), {}


def look_text(analysis: Analysis, node_id: str, lang: str = "en") -> str:
    """What to look at in the step that computes `node_id` (Markdown, one paragraph)."""
    node = analysis.topology.node(node_id)
    shape = "×".join(str(d) for d in analysis.trace[node_id].shape[1:])
    stride = 2 ** node.level if node.level is not None else "—"
    key, fields = guidance(analysis, node, lang)
    look = t(key, lang, node=node_id, shape=shape, stride=stride, **fields)
    if node_id in analysis.outputs:
        look += t("lesson.output", lang)
    return t("lesson.look", lang, text=look)


def lesson_step(analysis: Analysis, node_id: str, lang: str = "en") -> str:
    """Markdown guidance for the step that computes `node_id`."""
    topology = analysis.topology
    k, last = topology.order.index(node_id), len(topology.nodes) - 1
    lines = [t("lesson.step", lang, k=k, last=last), look_text(analysis, node_id, lang)]
    decoded = cell_name_words(topology, node_id, lang)
    if decoded:
        lines.append(decoded)
    if k == last:
        lines += [t("lesson.key_idea", lang, idea=t(f"lesson.idea.{analysis.neck_name}", lang)),
                  t("lesson.paper", lang, paper=NECKS[analysis.neck_name].paper)]
    return "\n\n".join(lines)
