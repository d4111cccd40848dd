"""A neck's structure as data: feature nodes in execution order and the operations between them."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx

from necklab.graph.receptive_field import RF, Layer, PathRF, node_receptive_fields


@dataclass(frozen=True)
class Edge:
    """One input of a node: where it comes from, what is done to it on the way, in words and layers."""

    source: str
    op: str  # short label for the graph, e.g. "1×1 conv", "↑2 nearest", "3×3 s2 conv"
    layers: tuple[Layer, ...] = ()


@dataclass(frozen=True)
class Node:
    """A feature tensor of the neck.

    `level` is log2(stride) for pyramid features (P3 has level 3) and None for pooled vectors;
    `branch` names a parallel branch (ASPP, SPP); `op` says how the inputs are combined.
    """

    id: str
    op: str
    inputs: tuple[Edge, ...] = ()
    level: int | None = None
    branch: str | None = None
    stage: int | None = None  # repeat index of stacked necks (NAS-FPN stage, BiFPN cell, RFP pass)
    note: str = ""  # one line on what the node does, for the step-through

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

    def graph(self) -> nx.DiGraph:
        """Nodes carry their attributes and execution index; edges carry the op label. Two inputs
        from the same source (a global-pooling cell's attention and addend) share one edge whose
        label joins both ops."""
        g = nx.DiGraph(name=self.name)
        for index, n in enumerate(self.nodes):
            g.add_node(n.id, index=index, op=n.op, level=n.level, branch=n.branch, stage=n.stage)
            for edge in n.inputs:
                if g.has_edge(edge.source, n.id):
                    g.edges[edge.source, n.id]["op"] += " / " + edge.op
                else:
                    g.add_edge(edge.source, n.id, op=edge.op)
        return g

    def layers_on_path(self, path: Sequence[str]) -> int:
        """Spatial layers (convs and pools, not resizes or additions) met along a path of node ids."""
        total = 0
        for source, target in zip(path, path[1:]):
            edge = next(e for e in self.node(target).inputs if e.source == source)
            total += sum(1 for layer in edge.layers if layer.upsample == 1 and not layer.global_pool)
        return total

    def receptive_fields(self, base: Mapping[str, RF]) -> dict[str, list[PathRF]]:
        """Theoretical receptive fields of every node through each distinct path, given the
        receptive fields of the input nodes (from the backbone)."""
        edges = {n.id: [(e.source, e.layers) for e in n.inputs] for n in self.nodes}
        return node_receptive_fields(self.order, edges, base)


def input_nodes(names: Sequence[str], levels: Sequence[int | None], note: str = "backbone feature") -> list[Node]:
    return [Node(name, "input", level=level, note=note) for name, level in zip(names, levels)]
