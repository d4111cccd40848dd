"""The step-through's steps, and where a neck's ideas sit in them — plain data on a topology.

A neck opens on the pyramid it starts from: the backbone's levels, their 1×1 laterals and the extra
levels made only from those. The step-through shows that opening as one step (all of its maps at
once) and every later node as its own step; `every=True` gives one step per node, in execution
order. A `Jump` names a part of a neck worth jumping to by what its node is (its op, how its inputs
arrive, its stage), so it finds its node in any configuration of the neck.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from necklab.graph.topology import Edge, Move, Node, Op, Step, Topology


def opening(topology: Topology) -> tuple[str, ...]:
    """The longest start of the execution order made of inputs, and laterals and extra levels whose
    inputs are all in it: the pyramid the neck starts from."""
    group: list[str] = []
    for node in topology.nodes:
        made_from_group = node.op in (Op.LATERAL, Op.EXTRA) and all(e.source in group for e in node.inputs)
        if not (node.is_input or made_from_group):
            break
        group.append(node.id)
    return tuple(group)


@dataclass(frozen=True)
class Steps:
    """The steps of a step-through: each one or more node ids, in execution order."""

    stops: tuple[tuple[str, ...], ...]

    @classmethod
    def of(cls, topology: Topology, every: bool = False) -> Steps:
        """The opening as one step and every other node as its own; with `every`, a node per step."""
        order = topology.order
        first = 1 if every else max(len(opening(topology)), 1)
        return cls((tuple(order[:first]), *((node,) for node in order[first:])))

    def __len__(self) -> int:
        return len(self.stops)

    def __getitem__(self, k: int) -> tuple[str, ...]:
        return self.stops[k]

    @property
    def last(self) -> int:
        return len(self.stops) - 1

    def index(self, node: str) -> int:
        """The step that shows `node`."""
        return next(k for k, stop in enumerate(self.stops) if node in stop)


def shrinking_step(edge: Edge) -> Step | None:
    """The step that brings a finer level down to the node's grid (a strided conv or pool)."""
    return next((s for s in edge.steps if s.move is Move.DOWN
                 or (s.move in (Move.CONV, Move.MAX_POOL) and s.stride > 1)), None)


def upsampled(node: Node) -> bool:
    """Whether an input arrives upsampled from a coarser level."""
    return any(s.move is Move.UP for e in node.inputs for s in e.steps)


def dilation_rates(node: Node) -> list[int]:
    """The dilation rates of the convs on the node's inputs (rate > 1 only)."""
    return [s.rate for e in node.inputs for s in e.steps if s.move is Move.CONV and s.rate > 1]


def dilated_taps(h: int, w: int, rate: int) -> int:
    """How many of a 3×3 kernel's taps, `rate` cells apart, land on an h×w map at its centre cell
    (the padding of `rate` keeps the grid; the other taps read it)."""
    def along(size: int) -> int:
        return sum(0 <= size // 2 + d * rate < size for d in (-1, 0, 1))
    return along(h) * along(w)


class Arrival(StrEnum):
    """How a node's inputs reach it."""

    TOP_DOWN = "top_down"  # an input upsampled from a coarser level
    BOTTOM_UP = "bottom_up"  # a finer level shrunk to the node's grid by a strided layer
    DILATED = "dilated"  # through a conv whose taps are spread apart


def arrivals(node: Node) -> set[Arrival]:
    found = set()
    if upsampled(node):
        found.add(Arrival.TOP_DOWN)
    if any(shrinking_step(e) for e in node.inputs):
        found.add(Arrival.BOTTOM_UP)
    if dilation_rates(node):
        found.add(Arrival.DILATED)
    return found


@dataclass(frozen=True)
class Jump:
    """A part of a neck to jump to: the first node, in execution order, of one of `ops` (any op if
    none), whose inputs arrive as `arrives` and that belongs to `stage` (where these are given).
    `key` names its words (`step.jump.<key>`)."""

    key: str
    ops: tuple[Op, ...] = ()
    arrives: Arrival | None = None
    stage: int | None = None

    def matches(self, node: Node) -> bool:
        return ((not self.ops or node.op in self.ops)
                and (self.arrives is None or self.arrives in arrivals(node))
                and (self.stage is None or node.stage == self.stage))

    def target(self, topology: Topology) -> str | None:
        """The node this jump lands on, or None where this configuration of the neck has none."""
        return next((node.id for node in topology.nodes if self.matches(node)), None)
