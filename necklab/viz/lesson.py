"""Lesson mode: for any neck and configuration, what to look at in the graph and the feature map at
each step (chosen by the node's op, so it follows the trace), ending with the neck's key idea and
its paper. The words are in assets/i18n (lesson.op.*, lesson.idea.*)."""
from __future__ import annotations

from necklab.graph.topology import Op
from necklab.i18n import has, t
from necklab.lab.analysis import Analysis
from necklab.models.registry import NECKS


def op_key(op: Op) -> str:
    """The lesson text key of a node op (Op.ADAPTIVE_MAX_POOL → lesson.op.adaptive_max_pool)."""
    key = f"lesson.op.{op}"
    return key if has(key) else "lesson.op.other"


def lesson_step(analysis: Analysis, node_id: str, lang: str = "en") -> str:
    """Markdown guidance for the step that computes `node_id`."""
    topology = analysis.topology
    node = topology.node(node_id)
    k, last = topology.order.index(node_id), len(topology.nodes) - 1
    shape = "×".join(str(d) for d in analysis.trace[node_id].shape[1:])
    stride = 2 ** node.level if node.level is not None else "—"
    look = t(op_key(node.op), lang, node=node_id, shape=shape, stride=stride)
    if node_id in analysis.outputs:
        look += t("lesson.output", lang)
    lines = [t("lesson.step", lang, k=k, last=last), t("lesson.look", lang, text=look)]
    if k == last:
        lines += [t("lesson.key_idea", lang, idea=t(f"lesson.idea.{analysis.neck_name}", lang)),
                  t("lesson.paper", lang, paper=NECKS[analysis.neck_name].paper)]
    return "\n\n".join(lines)
