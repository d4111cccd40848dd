"""Lesson mode: for any neck and configuration, what to look at in the graph and the feature map at
each step, ending with the neck's key idea and its paper. The guidance is chosen from what the node
is made of — its op and, where the op alone does not say, how its inputs arrive (an upsampled
coarser level, a finer level shrunk by a strided conv, a dilated kernel) — so it is true of the node
it describes. The words are in assets/i18n (lesson.op.*, lesson.dilated.*, lesson.idea.*)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from necklab.graph.steps import Steps, shrinking_step, upsampled
from necklab.graph.topology import Node, Op
from necklab.i18n import has, t
from necklab.lab.analysis import Analysis
from necklab.lab.words import cell_name_words, step_label
from necklab.models.registry import NECKS
from necklab.viz.step import dilation


def op_key(op: Op) -> str:
    """The lesson text key of a node op (Op.ADAPTIVE_MAX_POOL → lesson.op.adaptive_max_pool)."""
    key = f"lesson.op.{op}"
    return key if has(key) else "lesson.op.other"


def guidance(analysis: Analysis, node: Node, lang: str) -> tuple[str, dict[str, Any]]:
    """The key of the lesson text for `node` and the fields it needs beyond node, shape and stride."""
    shrinks = [step for e in node.inputs if (step := shrinking_step(e)) is not None]
    if node.op is Op.ADD:
        if upsampled(node):
            return "lesson.op.add_topdown", {}
        if shrinks:
            return "lesson.op.add_bottomup", {"how": step_label(shrinks[0], lang)}
        return "lesson.op.add_generic", {}
    if node.op is Op.RESIZE:
        if upsampled(node):
            return "lesson.op.resize_up", {}
        return "lesson.op.resize_down", {"how": step_label(shrinks[0], lang)}
    spread = dilation(analysis, node, lang)
    if spread is not None:
        return "lesson.op.conv_dilated", {"r": spread.rate, "hw": spread.hw, "coverage": spread.coverage}
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


def lesson_step(analysis: Analysis, node_id: str, lang: str = "en", steps: Steps | None = None) -> str:
    """Markdown guidance for the step that computes `node_id`, numbered as in `steps` (default: one
    step per node)."""
    topology = analysis.topology
    steps = Steps.of(topology, every=True) if steps is None else steps
    k, last = steps.index(node_id), steps.last
    lines = [t("lesson.step", lang, k=k, last=last), look_text(analysis, node_id, lang)]
    decoded = cell_name_words(topology, node_id, lang)
    if decoded:
        lines.append(decoded)
    if k == last:
        lines += [t("lesson.key_idea", lang, idea=t(f"lesson.idea.{analysis.neck_name}", lang)),
                  t("lesson.paper", lang, paper=NECKS[analysis.neck_name].paper)]
    return "\n\n".join(lines)


def opening_lesson(analysis: Analysis, nodes: Sequence[str], lang: str = "en", steps: Steps | None = None) -> str:
    """Markdown guidance for the step that shows the pyramid a neck starts from, all its maps at once."""
    topology = analysis.topology
    steps = Steps.of(topology) if steps is None else steps

    def listed(op: Op) -> str:
        return t("lesson.list_sep", lang).join(f"`{n}`" for n in nodes if topology.node(n).op is op)

    made = "".join(t(f"lesson.opening_{op}", lang, nodes=listed(op)) for op in (Op.LATERAL, Op.EXTRA) if listed(op))
    look = t("lesson.opening", lang, inputs=listed(Op.INPUT), made=made)
    return "\n\n".join([t("lesson.step", lang, k=steps.index(nodes[0]), last=steps.last),
                        t("lesson.look", lang, text=look)])
