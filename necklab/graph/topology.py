"""A neck's structure as data: feature nodes in execution order and the operations between them.

Everything here is meaning, not words: a node's `op` is an `Op` (which carries the shape rule the
quiz explains it with), an edge is a list of `Step`s with their numbers (kernel, stride, rate,
factor, bins) and the `Role` its input plays in the merge, a note is a `Note` (a key and its
fields). Labels and sentences are rendered from these in any language (`necklab.lab.words`), never
parsed back.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import networkx as nx

from necklab.graph.receptive_field import RF, Layer, PathRF, node_receptive_fields


class Rule(StrEnum):
    """How a node's C×H×W follows from its inputs (the quiz's rule kinds)."""

    BACKBONE = "backbone"  # the backbone's stage: channels by design, H×W = ⌈picture / stride⌉
    LATERAL = "lateral"  # a 1×1 conv: new C, same H×W
    CONV = "conv"  # a conv: new C, H×W by kernel, stride and padding
    RESAMPLE = "resample"  # to another level: H×W of that level, C kept unless a conv sets it
    POOL = "pool"  # a pool: same C, H×W by kernel, stride and padding
    BINS = "bins"  # adaptive pooling: a fixed n×n grid
    SUM = "sum"  # inputs brought to one shape and added (weighted, gated, attended)
    CONCAT = "concat"  # channels add up (or flattened lengths)
    IMAGE_POOLING = "image_pooling"  # one global value per channel, spread back over the grid


class Op(StrEnum):
    """How a node combines its inputs; the value is the key of its words (`op.<value>`)."""

    INPUT = "input"
    LATERAL = "lateral"
    ADD = "add"
    CONV = "conv"
    EXTRA = "extra"
    CONCAT = "concat"
    MAX_POOL = "max_pool"
    ADAPTIVE_MAX_POOL = "adaptive_max_pool"
    ADAPTIVE_AVG_POOL = "adaptive_avg_pool"
    IMAGE_POOLING = "image_pooling"
    SUM_CELL = "sum_cell"
    GP_CELL = "gp_cell"
    WEIGHTED_SUM = "weighted_sum"
    RESIZE = "resize"
    GATE = "gate"
    BACKBONE = "backbone"
    ASPP = "aspp"

    @property
    def rule(self) -> Rule:
        return _RULES[self]


_RULES = {
    Op.INPUT: Rule.BACKBONE, Op.BACKBONE: Rule.BACKBONE, Op.LATERAL: Rule.LATERAL,
    Op.CONV: Rule.CONV, Op.ASPP: Rule.CONV, Op.EXTRA: Rule.RESAMPLE, Op.RESIZE: Rule.RESAMPLE,
    Op.MAX_POOL: Rule.POOL, Op.ADAPTIVE_MAX_POOL: Rule.BINS, Op.ADAPTIVE_AVG_POOL: Rule.BINS,
    Op.ADD: Rule.SUM, Op.WEIGHTED_SUM: Rule.SUM, Op.SUM_CELL: Rule.SUM, Op.GP_CELL: Rule.SUM, Op.GATE: Rule.SUM,
    Op.CONCAT: Rule.CONCAT, Op.IMAGE_POOLING: Rule.IMAGE_POOLING,
}


class Move(StrEnum):
    """One operation on an edge, on the way from its source to its node."""

    CONV = "conv"  # kernel, stride, rate; `norm`: followed by BatchNorm
    MAX_POOL = "max_pool"  # kernel, stride
    DOWN = "down"  # max-pool down by `factor` (to the next level's size)
    UP = "up"  # nearest upsampling by `factor`, or to the target's size (factor None)
    ADAPTIVE_POOL = "adaptive_pool"  # `pool` ("max" | "avg") into `bins`×`bins`
    GLOBAL_POOL = "global_pool"
    CONCAT = "concat"
    FLATTEN_CONCAT = "flatten_concat"
    BACKBONE_STAGE = "backbone_stage"
    FEEDBACK_ASPP = "feedback_aspp"
    FEEDBACK_CONV = "feedback_conv"  # kernel


CHANNEL_SETTING = frozenset({Move.CONV, Move.FEEDBACK_CONV, Move.FEEDBACK_ASPP, Move.BACKBONE_STAGE})


@dataclass(frozen=True)
class Step:
    move: Move
    kernel: int = 1
    stride: int = 1
    rate: int = 1
    factor: int | None = None
    norm: bool = False
    bins: int = 0
    pool: str = "max"

    @classmethod
    def conv(cls, kernel: int, stride: int = 1, rate: int = 1, norm: bool = False) -> Step:
        return cls(Move.CONV, kernel, stride, rate, norm=norm)

    @classmethod
    def max_pool(cls, kernel: int, stride: int = 1) -> Step:
        return cls(Move.MAX_POOL, kernel, stride)

    @classmethod
    def down(cls, factor: int) -> Step:
        return cls(Move.DOWN, factor=factor)

    @classmethod
    def up(cls, factor: int | None = None) -> Step:
        return cls(Move.UP, factor=factor)

    @classmethod
    def adaptive_pool(cls, pool: str, bins: int) -> Step:
        return cls(Move.ADAPTIVE_POOL, bins=bins, pool=pool)


class Role(StrEnum):
    """What an input is to the node that reads it."""

    PLAIN = "plain"  # taken as it is (after the edge's steps)
    ATTENDED = "attended"  # scaled by an attention (NAS-FPN's global-pooling cell: input A)
    ATTENTION = "attention"  # the source of that attention: σ(global average)
    ADDEND = "addend"  # added after the attention (the same cell's input B)
    WEIGHTED = "weighted"  # scaled by a learned fusion weight (BiFPN, ASFF)
    GATE_NEW = "gate_new"  # σ(1×1 conv)·new — Recursive-FPN's gate
    GATE_OLD = "gate_old"  # (1 − σ)·old


@dataclass(frozen=True)
class Note:
    """One line on what a node does, for the step-through: the key of its words (`note.<key>`)
    and the fields they need."""

    key: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, key: str, **fields: Any) -> Note:
        return cls(key, fields)


@dataclass(frozen=True)
class Edge:
    """One input of a node: where it comes from, what is done to it on the way (`steps`, none for
    an identity), the role it plays in the node, and the spatial layers its receptive field goes
    through (these may include the node's own conv after the merge)."""

    source: str
    steps: tuple[Step, ...] = ()
    layers: tuple[Layer, ...] = ()
    role: Role = Role.PLAIN

    @property
    def is_identity(self) -> bool:
        return not self.steps and self.role is Role.PLAIN

    @property
    def changes_channels(self) -> bool:
        return any(step.move in CHANNEL_SETTING for step in self.steps)


@dataclass(frozen=True)
class Node:
    """A feature tensor of the neck.

    `level` is log2(stride) for pyramid features (P3 has level 3) and None for pooled vectors;
    `branch` names a parallel branch (ASPP, SPP); `op` says how the inputs are combined.
    """

    id: str
    op: Op
    inputs: tuple[Edge, ...] = ()
    level: int | None = None
    branch: str | None = None
    stage: int | None = None  # repeat index of stacked necks (NAS-FPN stage, BiFPN cell, RFP pass)
    note: Note | None = None  # what the node does, for the step-through

    @property
    def is_input(self) -> bool:
        return not self.inputs


@dataclass(frozen=True)
class Topology:
    name: str
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    extras: Mapping[str, object] = field(default_factory=dict)  # neck-specific data (e.g. cell list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for node in self.nodes:
            if node.id in seen:
                raise ValueError(f"{self.name}: node {node.id!r} appears twice")
            for edge in node.inputs:
                if edge.source not in seen:
                    raise ValueError(f"{self.name}: {node.id!r} reads {edge.source!r} before it exists")
            seen.add(node.id)
        missing = set(self.outputs) - seen
        if missing:
            raise ValueError(f"{self.name}: outputs {sorted(missing)} have no node")

    @property
    def order(self) -> list[str]:
        return [n.id for n in self.nodes]

    @property
    def inputs(self) -> list[str]:
        return [n.id for n in self.nodes if n.is_input]

    def node(self, node_id: str) -> Node:
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def graph(self) -> nx.DiGraph[str]:
        """Nodes carry their attributes and execution index; each graph edge carries the `Edge`s it
        stands for (`edges`): two inputs from the same source (a global-pooling cell's attention
        and addend) share one graph edge."""
        g: nx.DiGraph[str] = nx.DiGraph(name=self.name)
        for index, n in enumerate(self.nodes):
            g.add_node(n.id, index=index, op=n.op, level=n.level, branch=n.branch, stage=n.stage)
            for edge in n.inputs:
                if g.has_edge(edge.source, n.id):
                    g.edges[edge.source, n.id]["edges"].append(edge)
                else:
                    g.add_edge(edge.source, n.id, edges=[edge])
        return g

    def layers_on_path(self, path: Sequence[str]) -> int:
        """Spatial layers (convs and pools, not resizes or additions) met along a path of node ids."""
        total = 0
        for source, target in zip(path, path[1:], strict=False):
            edge = next(e for e in self.node(target).inputs if e.source == source)
            total += sum(1 for layer in edge.layers if layer.upsample == 1 and not layer.global_pool)
        return total

    def receptive_fields(self, base: Mapping[str, RF]) -> dict[str, list[PathRF]]:
        """Theoretical receptive fields of every node through each distinct path, given the
        receptive fields of the input nodes (from the backbone)."""
        edges = {n.id: [(e.source, e.layers) for e in n.inputs] for n in self.nodes}
        return node_receptive_fields(self.order, edges, base)


def input_nodes(names: Sequence[str], levels: Sequence[int | None], note: Note = Note("backbone")) -> list[Node]:
    return [Node(name, Op.INPUT, level=level, note=note) for name, level in zip(names, levels, strict=False)]
