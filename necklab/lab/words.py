"""The graph's meaning in words: node ops, edge labels and node notes rendered from the structured
topology (`necklab.graph.topology`) in any language — the one place they are worded."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from necklab.graph.topology import Edge, Move, Note, Op, Role, Step, Topology
from necklab.i18n import class_names, t
from necklab.lab.analysis import Weights
from necklab.models.cell_design import StageCell
from necklab.models.refusal import Refusal
from necklab.models.weights import TRAINED


def top_classes(top: Sequence[tuple[int, str, float]], lang: str = "en") -> dict[str, float]:
    """The backbone's top classes ((index, English label, probability), most likely first) as
    {name in `lang`: probability}: the analysis keeps indices, so every language shares one run."""
    names = class_names(lang)
    return {names[index]: p for index, _, p in top}


def branch_words(branch: str, lang: str = "en") -> str:
    """A node's branch as labels show it: ASPP's 'rate 6' and 'image pool' in `lang`; any other
    branch (a code name such as pool5, or 1×1) as it is."""
    kind, _, rate = branch.partition(" ")
    if branch == "image pool":
        return t("branch.image_pool", lang)
    return t("branch.rate", lang, r=rate) if kind == "rate" and rate.isdigit() else branch


def op_name(op: Op, lang: str = "en") -> str:
    return t(f"op.{op}", lang)


def step_label(step: Step, lang: str = "en") -> str:
    """One operation on an edge: '3×3 s2 conv', 'max-pool ↓2', '↑2 nearest', 'adaptive max-pool 4×4'."""
    k, s = step.kernel, step.stride
    if step.move is Move.CONV:
        bn = t("edge.bn", lang) if step.norm else ""
        if step.rate > 1:
            return t("edge.conv_rate", lang, k=k, r=step.rate)
        return t("edge.conv_strided" if s > 1 else "edge.conv", lang, k=k, s=s, bn=bn)
    if step.move is Move.MAX_POOL:
        return t("edge.max_pool_strided" if s > 1 else "edge.max_pool", lang, k=k, s=s)
    if step.move is Move.DOWN:
        return t("edge.down", lang, f=step.factor)
    if step.move is Move.UP:
        return t("edge.up", lang) if step.factor is None else t("edge.up_by", lang, f=step.factor)
    if step.move is Move.ADAPTIVE_POOL:
        return t(f"edge.adaptive_{step.pool}", lang, n=step.bins)
    if step.move is Move.FEEDBACK_CONV:
        return t("edge.feedback_conv", lang, k=k)
    return t(f"edge.{step.move}", lang)


def edge_label(edge: Edge, lang: str = "en", sep: str | None = None, worded: Sequence[str] | None = None) -> str:
    """An edge as the graph labels it: its steps joined by `sep` (the language's list separator by
    default), in the role its input plays ('↑2 nearest × attention', '× weight'). `worded`: the
    steps already in words, where a caller words one differently (the quiz, for a resize)."""
    words = [step_label(step, lang) for step in edge.steps] if worded is None else worded
    steps = (t("edge.sep", lang) if sep is None else sep).join(words)
    steps = steps or t("edge.identity", lang)
    return steps if edge.role is Role.PLAIN else t(f"edge.role_{edge.role}", lang, steps=steps)


def edges_label(edges: list[Edge], lang: str = "en", sep: str | None = None) -> str:
    """Several inputs from one source (one graph edge), each labelled."""
    return t("edge.joined", lang).join(edge_label(edge, lang, sep) for edge in edges)


def refusal_text(refusal: Refusal, lang: str = "en") -> str:
    """What the model side refused (a design, a configuration), in `lang`."""
    return t(f"{refusal.area}.{refusal.key}", lang, **refusal.fields)


def note_words(note: Note, lang: str = "en") -> str:
    return t(f"note.{note.key}", lang, **note.fields)


def cell_name_words(topology: Topology, node_id: str, lang: str = "en") -> str | None:
    """What a merging cell's name says ('gp_64_4': a global-pooling cell that reads levels P6 and P4
    and writes level P4), worded from the cell's op and levels — never parsed from the name; None
    for a node that is not a merging cell."""
    cells = cast("Mapping[str, StageCell]", topology.extras.get("cell_of_node", {}))  # NAS-FPN's extras
    cell = cells.get(node_id)
    if cell is None:
        return None
    a, b = cell.input_levels
    repeat = t("cell_name.repeat", lang, n=cell.repeat) if cell.repeat > 1 else ""
    return t("cell_name.decoded", lang, name=cell.name, op=t(f"cell_name.{cell.op}", lang), a=a, b=b,
             out=cell.level, repeat=repeat)


def weights_words(weights: Weights, lang: str = "en") -> str:
    """Which weights a view shows, in words: trained (with their held-out AP or mIoU), or fresh and,
    when trained ones were asked for, why they are not shown."""
    if weights.shown == TRAINED:
        metrics = dict(weights.metrics)
        metric = "mIoU" if "mIoU" in metrics else "AP"
        return t("weights.trained", lang, metric=metric, value=f"{metrics.get(metric, float('nan')):.1f}")
    if weights.reason:
        return t("weights.fresh_because", lang, reason=t(f"weights.{weights.reason}", lang))
    return t("weights.fresh", lang)


def is_trained(weights: Weights) -> bool:
    return weights.shown == TRAINED


def shown_words(key: str, weights: Weights, lang: str = "en", **fields: object) -> str:
    """The text `key_trained` or `key_fresh` — the one true of the weights a view shows — with those
    weights in words as {weights}."""
    variant = "trained" if is_trained(weights) else "fresh"
    return t(f"{key}_{variant}", lang, weights=weights_words(weights, lang), **fields)


def init_note(weights: Weights | None, lang: str = "en") -> str:
    """The line above a neck tab: which weights the neck runs (before a run: when it runs which)."""
    return t("neck.init_note", lang) if weights is None else shown_words("neck.init_note", weights, lang)
