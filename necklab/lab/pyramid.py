"""A node's place in the pyramid as a plain int, for code that needs one.

The topology types `Node.level` and `Node.stage` as optional: pooled vectors have no level, and
nodes of necks that do not repeat (or that come before the first repeat) have no stage. Code that
draws or derives a pyramid feature (a level's cell grid, its stride, a stage's nodes) reads them
through these helpers, which name the node that lacks one instead of failing later on `None`.
"""
from __future__ import annotations

from necklab.graph.topology import Node, Topology


def level_of(node: Node) -> int:
    """The node's pyramid level (log2 of its stride: P3 is level 3)."""
    if node.level is None:
        raise ValueError(f"node {node.id!r} has no pyramid level (a pooled vector)")
    return node.level


def stage_of(node: Node) -> int:
    """The repeat the node belongs to (NAS-FPN stage, BiFPN cell, RFP pass)."""
    if node.stage is None:
        raise ValueError(f"node {node.id!r} belongs to no stage")
    return node.stage


def input_levels(topology: Topology) -> list[int]:
    """The levels of the neck's input features, finest first."""
    return sorted(level_of(n) for n in topology.nodes if n.is_input)
