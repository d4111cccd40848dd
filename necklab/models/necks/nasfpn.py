"""NAS-FPN (Ghiasi, Lin & Le 2019), structured as mmdetection 3.x `necks/nas_fpn.py` with mmcv's
`ops/merge_cells.py`.

1×1 lateral convs + BN bring the used backbone levels to `out_channels`; P6 and P7 are 1×1 conv +
BN + 2×2 max-pool, chained on top of the last lateral. Then `stack_times` identical stages of nine
merging cells (the architecture the paper's search found) rewire the five levels. A cell resizes
both inputs to its output level (nearest up, max-pool down), combines them — a sum, or the
global-pooling cell's `b + sigmoid(GAP(b)) · a` — and, except in gp_43_5 and gp_54_7, runs
ReLU → 3×3 conv (bias kept) → BN. Caffe2-Xavier init.
Standard configuration [256, 512, 1024, 2048] → 256, start_level 1, 5 outputs, 7 stages, BN:
29,990,144 parameters.

The stage is a `cell_design.Design` (by default `NAS_FPN`, the reference's nine cells written as
data); the stages and the topology are built by walking it, so any design of the playground builds
through this class. Its level names P3…P7 are positions in the five-level pyramid: the first used
input level is "P3" whatever its stride (with the defaults it *is* P3).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.receptive_field import GLOBAL, Layer, conv, up
from necklab.graph.topology import Edge, Node, Note, Op, Role, Step, Topology, input_nodes
from necklab.graph.trace import record, recording
from necklab.models.cell_design import LEVELS, NAS_FPN, Design, StageCell, cell_ref, level_ref
from necklab.models.layers import Neck, conv_block, init_convs
from necklab.models.refusal import ConfigError
from necklab.models.spec import OUT_CHANNELS, STANDARD_FPN, Control, NeckSpec

PYRAMID = len(LEVELS)  # the cells are wired for exactly five levels, P3 … P7
FIRST_CELL_LEVEL = LEVELS[0]  # the cell names count levels from P3


# mmdet's stage (see cell_design.NAS_FPN), named and in execution order.
CELLS: tuple[StageCell, ...] = NAS_FPN.stage_cells()
CELL_OPS = {"gp": Op.GP_CELL, "sum": Op.SUM_CELL}


def merge_resize(x: Tensor, size: Sequence[int]) -> Tensor:
    """mmcv `BaseMergeCell._resize`: nearest up, or zero-pad to a multiple then max-pool down.

    The up/down choice compares (h, w) tuples lexicographically, exactly as mmcv does, so a map
    that is taller but narrower than the target is pooled (after padding), not upsampled.
    """
    size = tuple(size)
    h, w = x.shape[-2:]
    if (h, w) == size:
        return x
    if (h, w) < size:
        return F.interpolate(x, size=size, mode="nearest")
    th, tw = size
    if h % th or w % tw:
        pad_h = math.ceil(h / th) * th - h
        pad_w = math.ceil(w / tw) * tw - w
        x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0.0)
    kernel = (x.shape[-2] // th, x.shape[-1] // tw)
    return F.max_pool2d(x, kernel, stride=kernel)


def halve(x: Tensor) -> Tensor:
    """The reference's `MaxPool2d(2, 2)`, except that an axis of length 1 stays 1.

    PyTorch raises on a 2×2 window over a 1-cell axis, which the reference hits when P6 is 1 cell
    tall or wide (tiny pictures); kernel 1 there keeps the map. Everywhere the reference runs, the
    result is identical (floor sizes, no padding).
    """
    kernel = (min(2, x.shape[-2]), min(2, x.shape[-1]))
    return F.max_pool2d(x, kernel, stride=2)


def _resize_edge(source_level: int, target_level: int) -> tuple[tuple[Step, ...], tuple[Layer, ...]]:
    """What `merge_resize` does between two levels, and its receptive-field layers.

    Pooling is modelled as a 2^d window without padding, which is exact when sizes divide (the
    reference pads pictures to a multiple of 128 so they always do).
    """
    d = target_level - source_level
    if d > 0:
        return (Step.down(2 ** d),), (conv(2 ** d, 2 ** d, pad=0),)
    if d < 0:
        return (Step.up(2 ** -d),), (up(2 ** -d),)
    return (), ()


class MergeCell(nn.Module):
    """mmcv's SumCell / GlobalPoolingCell with its optional ReLU → 3×3 conv (bias) → BN."""

    def __init__(self, op: str, channels: int, with_out_conv: bool, norm: bool) -> None:
        super().__init__()
        self.op = op
        self.out_conv = (conv_block(channels, channels, 3, norm=norm, act="relu", bias=True,
                                    order=("act", "conv", "norm")) if with_out_conv else None)

    def forward(self, a: Tensor, b: Tensor, size: Sequence[int], node_id: str) -> Tensor:
        a, b = merge_resize(a, size), merge_resize(b, size)
        extras: dict[str, object] = {}
        if self.op == "gp":
            attention = torch.sigmoid(F.adaptive_avg_pool2d(b, 1))
            out = b + attention * a
            extras["attention"] = attention
        else:
            out = a + b
        if recording():
            extras["resized"] = (a.detach(), b.detach())
        if self.out_conv is not None:
            out = self.out_conv(out)
        return record(node_id, out, **extras)


class NASFPN(Neck):
    def __init__(
        self,
        in_channels: Sequence[int] = (24, 40, 112, 320),
        out_channels: int = 64,
        num_outs: int = 5,
        start_level: int = 1,
        stack_times: int = 7,
        norm: bool = True,
        first_level: int = 2,
        design: Design = NAS_FPN,
    ) -> None:
        super().__init__()
        self.design = design
        self.cells = design.stage_cells()  # validates: a bad design raises DesignError (a ValueError)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.start_level = start_level
        self.used = len(self.in_channels) - start_level  # backbone levels the neck consumes
        if num_outs != PYRAMID:
            raise ConfigError("wired_levels", neck="NAS-FPN", n=PYRAMID, got=num_outs)
        if not 1 <= self.used <= PYRAMID:
            raise ConfigError("inputs_fit", got=self.used, n=PYRAMID)
        if stack_times < 1:
            raise ConfigError("one_repeat", neck="NAS-FPN")
        self.num_outs = num_outs
        self.stack_times = stack_times
        self.norm = norm
        self.first_level = first_level
        base = first_level + start_level
        self.levels = [base + i for i in range(PYRAMID)]  # absolute levels of p3 … p7

        self.lateral_convs = nn.ModuleList(
            conv_block(c, out_channels, 1, norm=norm) for c in self.in_channels[start_level:])
        # The reference's nn.Sequential(ConvModule, MaxPool2d(2, 2)): the pool is `halve` in forward.
        self.extra_convs = nn.ModuleList(
            conv_block(out_channels, out_channels, 1, norm=norm) for _ in range(PYRAMID - self.used))
        self.fpn_stages = nn.ModuleList(
            nn.ModuleDict({c.name: MergeCell(c.op, out_channels, c.with_out_conv, norm) for c in self.cells})
            for _ in range(stack_times))
        init_convs(self, "caffe2_xavier")
        self.topology = self._topology()

    # --- structure --------------------------------------------------------------------------
    def _input_names(self) -> list[str]:
        return [f"C{self.first_level + i}" for i in range(len(self.in_channels))]

    def _level(self, cell_level: int) -> int:
        return self.levels[cell_level - FIRST_CELL_LEVEL]

    @staticmethod
    def cell_id(stage: int, cell: StageCell) -> str:
        """A merging cell's node: its stage and its mmdet name ('s2.gp_64_4')."""
        return f"s{stage}.{cell.name}"

    def _pyramid_ids(self) -> list[str]:
        """Node ids of p3 … p7 before the first stage: laterals, then the extra levels."""
        return [f"L{lvl}" if i < self.used else f"P{lvl}" for i, lvl in enumerate(self.levels)]

    def _topology(self) -> Topology:
        names = self._input_names()
        bn = "+BN" if self.norm else ""
        lateral = Step.conv(1, norm=self.norm)
        nodes = input_nodes(names, [self.first_level + i for i in range(len(names))])
        ids = self._pyramid_ids()
        for i, (node_id, lvl) in enumerate(zip(ids, self.levels, strict=False)):
            if i < self.used:
                edge = Edge(names[self.start_level + i], (lateral,), (conv(1),))
                note = Note.of("nasfpn_lateral", bn=bn, lvl=lvl, ch=self.out_channels)
            else:
                edge = Edge(ids[i - 1], (lateral, Step.down(2)), (conv(1), conv(2, 2, pad=0)))
                note = Note.of("nasfpn_extra", bn=bn, lvl=lvl - 1)
            nodes.append(Node(node_id, Op.LATERAL if i < self.used else Op.EXTRA, (edge,), lvl, note=note))

        # holder: a design reference ("P4", "cell 2") → the node id it names in the current stage
        holder = {level_ref(FIRST_CELL_LEVEL + i): node_id for i, node_id in enumerate(ids)}
        cell_of_node: dict[str, StageCell] = {}  # each cell node's cell: what its name says, as data
        out_conv = (conv(3),)
        for k in range(1, self.stack_times + 1):
            for index, cell in enumerate(self.cells, start=1):
                lvl = self._level(cell.level)
                tail = out_conv if cell.with_out_conv else ()
                steps_a, layers_a = _resize_edge(self._level(self.design.level_of(cell.a)), lvl)
                steps_b, layers_b = _resize_edge(self._level(self.design.level_of(cell.b)), lvl)
                inputs: tuple[Edge, ...]
                if cell.op == "gp":
                    # Three edges: a (scaled by the attention), b's attention (GLOBAL: the average
                    # over all of b makes every output cell see the whole picture) and b added
                    # directly. Topology.graph() joins the two b edges into one graph edge.
                    inputs = (Edge(holder[cell.a], steps_a, layers_a + tail, Role.ATTENDED),
                              Edge(holder[cell.b], (), layers_b + (GLOBAL,) + tail, Role.ATTENTION),
                              Edge(holder[cell.b], steps_b, layers_b + tail, Role.ADDEND))
                    how = f"{holder[cell.b]} + sigmoid(GAP({holder[cell.b]}))·{holder[cell.a]}"
                else:
                    inputs = (Edge(holder[cell.a], steps_a, layers_a + tail),
                              Edge(holder[cell.b], steps_b, layers_b + tail))
                    how = f"{holder[cell.a]} + {holder[cell.b]}"
                node_id = self.cell_id(k, cell)
                note = Note.of("nasfpn_cell_conv" if cell.with_out_conv else "nasfpn_cell", lvl=lvl, how=how)
                nodes.append(Node(node_id, CELL_OPS[cell.op], inputs, lvl, stage=k, note=note))
                holder[cell_ref(index)] = node_id
                cell_of_node[node_id] = cell
            holder.update({level_ref(lvl): holder[cell_ref(c)] for lvl, c in self.design.producers().items()})
        outputs = tuple(holder[level_ref(lvl)] for lvl in LEVELS)
        searched = self.design.cells == NAS_FPN.cells
        name = "nas_fpn" if searched else self.design.name
        # A design of the playground is shown under its own name, the searched stage as NAS-FPN.
        title = {} if searched else {"title": self.design.name}
        return Topology(name, tuple(nodes), outputs, extras={"cells": self.cells, "design": self.design,
                                                               "cell_of_node": cell_of_node, **title})

    # --- computation ------------------------------------------------------------------------
    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} levels, got {len(feats)}")
        for name, x in zip(self._input_names(), feats, strict=False):
            record(name, x)
        ids = self._pyramid_ids()
        pyramid = [record(ids[i], lateral(feats[self.start_level + i]))
                   for i, lateral in enumerate(self.lateral_convs)]
        for i, extra in enumerate(self.extra_convs, start=self.used):
            pyramid.append(record(ids[i], halve(extra(pyramid[-1]))))

        maps = {level_ref(FIRST_CELL_LEVEL + i): x for i, x in enumerate(pyramid)}
        # Every cell writes at the size of its level's first map, as mmdet's `out_size=pN.shape`.
        sizes = {FIRST_CELL_LEVEL + i: x.shape[-2:] for i, x in enumerate(pyramid)}
        producers = self.design.producers()
        for k, stage_cells in enumerate(self.fpn_stages, start=1):
            stage = cast(nn.ModuleDict, stage_cells)  # built as one; torch types a ModuleList's items as Modules
            for index, cell in enumerate(self.cells, start=1):
                maps[cell_ref(index)] = stage[cell.name](maps[cell.a], maps[cell.b], sizes[cell.level],
                                                         self.cell_id(k, cell))
            maps.update({level_ref(lvl): maps[cell_ref(c)] for lvl, c in producers.items()})
        return [maps[level_ref(lvl)] for lvl in LEVELS]


SPECS = (NeckSpec("nasfpn", "NAS-FPN", NASFPN, "Ghiasi et al., NAS-FPN, CVPR 2019",
                  "mmdetection 3.x mmdet/models/necks/nas_fpn.py + mmcv merge_cells.py",
                  dict(STANDARD_FPN, stack_times=7, start_level=1, norm=True), 29_990_144, order=50,
                  controls=(OUT_CHANNELS, Control("stack_times", "stages", "int", 7, minimum=1, maximum=7))),)
