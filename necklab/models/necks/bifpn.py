"""BiFPN (Tan, Pang & Le 2020), structured as rwightman efficientdet-pytorch `effdet/efficientdet.py`
with `effdet/config/fpn_config.py`, configuration `efficientdet_d0`.

P6 is a 1×1 conv + BN of the coarsest input, max-pooled (3×3, stride 2, padding 1); P7 is P6
max-pooled again. Each of `stack_times` cells then runs eight fusion nodes — a top-down path
P6 → P3 and a bottom-up path P4 → P7 — listed in `NODES` exactly as fpn_config lists them. A node
resamples each input to its level (nearest up to the exact size, 3×3/2 max-pool down; in the first
cell a 1×1 conv + BN first, separately for every use of a backbone input whose channels differ),
fuses them with fast normalised weights w = relu(w) / (Σ relu(w) + 1e-4), then runs swish →
depthwise 3×3 → pointwise 1×1 (no biases) → BN (eps 1e-3, momentum 0.01). Init follows
efficientdet-pytorch's `_init_weight` for the FPN (not the heads): every conv, separable parts and
resample 1×1s alike, `_glorot_uniform` — uniform ±√(3 / max(1, (fan_in + fan_out) / 2)) with
fan_out divided by the groups (a depthwise 3×3 has fans 9 and 9) — BN weight 1, bias 0, fusion
weights start at one. `with_edge_weights` gives a copy with other fusion weights, for
the lesson that lets a learner edit them without touching the model every session shares.
EfficientDet-D0 ([40, 112, 320] → 64, 5 outputs, 3 cells): 194,361 parameters.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.receptive_field import Layer, conv, up
from necklab.graph.topology import Edge, Node, Note, Op, Step, Topology, input_nodes
from necklab.graph.trace import record, recording
from necklab.models.layers import RNG_LOCK, Neck, conv_block, init_convs, upsample_to
from necklab.models.refusal import ConfigError
from necklab.models.spec import OUT_CHANNELS, Control, NeckSpec

BN_EPS = 1e-3  # TF's BN epsilon, kept by efficientdet-pytorch
BN_MOMENTUM = 0.01  # PyTorch convention: TF's decay 0.99
FUSION_EPS = 1e-4


class FusionNode(NamedTuple):
    """One entry of fpn_config's node list for a five-level pyramid."""

    level: int  # target level as an offset from the finest output (0 = P3 with the defaults)
    inputs: tuple[int, ...]  # indices into the cell's nodes: 0…4 are its inputs, 5… the nodes below
    kind: str  # "td" (top-down path) or "out" (the cell's output at that level)


# efficientdet-pytorch's bifpn_config for P3–P7, node by node: indices 5…12 are these nodes in order.
NODES: tuple[FusionNode, ...] = (
    FusionNode(3, (3, 4), "td"),
    FusionNode(2, (2, 5), "td"),
    FusionNode(1, (1, 6), "td"),
    FusionNode(0, (0, 7), "out"),
    FusionNode(1, (1, 7, 8), "out"),
    FusionNode(2, (2, 6, 9), "out"),
    FusionNode(3, (3, 5, 10), "out"),
    FusionNode(4, (4, 11), "out"),
)
PYRAMID = 5


def _channel_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """efficientdet-pytorch's resample conv: 1×1, no bias, BN, no activation."""
    return conv_block(in_channels, out_channels, 1, norm=True, bias=False, bn_eps=BN_EPS, bn_momentum=BN_MOMENTUM)


def downsample(x: Tensor, steps: int, size: Sequence[int]) -> Tensor:
    """Max-pool by 2^steps (kernel stride + 1, padding stride − 1, as timm pads for pad_type '').

    On a ceil-sized pyramid (the backbone's SAME padding, this pooling) the result has exactly the
    target size. When inputs come from elsewhere and it lands one cell off, it is resized to the
    target with nearest interpolation, so the fusion always adds maps of one size.
    """
    stride = 2 ** steps
    x = F.max_pool2d(x, stride + 1, stride, stride - 1)
    return x if x.shape[-2:] == tuple(size) else upsample_to(x, size)


def _resample_edge(steps: int) -> tuple[tuple[Step, ...], tuple[Layer, ...]]:
    """What moving `steps` levels (negative = finer) does, and its receptive-field layers."""
    if steps > 0:
        stride = 2 ** steps
        return (Step.down(stride),), (conv(stride + 1, stride, pad=stride - 1),)
    if steps < 0:
        return (Step.up(2 ** -steps),), (up(2 ** -steps),)
    return (), ()


class Fusion(nn.Module):
    """One BiFPN node: resample the inputs, fast normalised fusion, swish → separable conv → BN."""

    def __init__(self, node: FusionNode, in_channels: Sequence[int], channels: int) -> None:
        super().__init__()
        # A 1×1 conv per input whose channels differ (only backbone inputs, first cell only),
        # keyed by input index as efficientdet-pytorch keys its ResampleFeatureMaps. `in_channels`
        # gives the cell's five inputs; the nodes a cell makes have `channels` already.
        self.resample = nn.ModuleDict({str(i): _channel_conv(in_channels[i], channels) for i in node.inputs
                                       if i < len(in_channels) and in_channels[i] != channels})
        self.edge_weights = nn.Parameter(torch.ones(len(node.inputs)))
        self.after_combine = nn.Sequential(
            nn.SiLU(),  # swish, before the conv (efficientdet-pytorch's pre-activation pattern)
            conv_block(channels, channels, 3, groups=channels, bias=False),
            _channel_conv(channels, channels))

    def forward(self, maps: Sequence[Tensor], offsets: Sequence[int], node: FusionNode,
                size: Sequence[int], node_id: str) -> Tensor:
        """`maps[i]` is the cell's node i and `offsets[i]` its level offset."""
        resampled = []
        for i in node.inputs:
            x = self.resample[str(i)](maps[i]) if str(i) in self.resample else maps[i]
            steps = node.level - offsets[i]
            resampled.append(downsample(x, steps, size) if steps > 0 else
                             upsample_to(x, size) if steps < 0 else x)
        weights = F.relu(self.edge_weights)
        weights = weights / (weights.sum() + FUSION_EPS)
        fused = sum(w * x for w, x in zip(weights, resampled, strict=False))
        extras: dict[str, object] = {"weights": weights}
        if recording():  # a snapshot of the raw weights, the resampled inputs and their weighted sum
            extras["raw_weights"] = self.edge_weights.detach().clone()
            extras["resampled"] = tuple(x.detach() for x in resampled)
            extras["fused"] = fused.detach()
        return record(node_id, self.after_combine(fused), **extras)


class BiFPN(Neck):
    def __init__(
        self,
        in_channels: Sequence[int] = (40, 112, 320),
        out_channels: int = 64,
        num_outs: int = 5,
        stack_times: int = 3,
        first_level: int = 3,
    ) -> None:
        super().__init__()
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        if num_outs != PYRAMID:
            raise ConfigError("wired_levels", neck="BiFPN", n=PYRAMID, got=num_outs)
        if not 1 <= len(self.in_channels) <= PYRAMID:
            raise ConfigError("inputs_fit", got=len(self.in_channels), n=PYRAMID)
        if stack_times < 1:
            raise ConfigError("one_repeat", neck="BiFPN")
        self.num_outs = num_outs
        self.stack_times = stack_times
        self.first_level = first_level
        self.levels = [first_level + i for i in range(PYRAMID)]

        # P6, P7: a 1×1 conv only where the channels differ (the coarsest input), then max-pool.
        extra = PYRAMID - len(self.in_channels)
        self.extra_convs = nn.ModuleList(
            _channel_conv(self.in_channels[-1], out_channels)
            if i == 0 and self.in_channels[-1] != out_channels else nn.Identity()
            for i in range(extra))
        first = self.in_channels + [out_channels] * extra
        self.cells = nn.ModuleList(
            nn.ModuleList(Fusion(node, first if k == 0 else [out_channels] * PYRAMID, out_channels)
                          for node in NODES)
            for k in range(stack_times))
        init_convs(self, "glorot_avg")
        self.topology = self._topology()

    # --- structure --------------------------------------------------------------------------
    def node_id(self, cell: int, node: FusionNode) -> str:
        """Id of a fusion node in cell `cell` (counted from 1), e.g. "c2.P4out"."""
        return f"c{cell}.P{self.levels[node.level]}{node.kind}"

    def _cells(self) -> list[list[Fusion]]:
        """Each cell's fusion modules in `NODES` order (torch types a ModuleList's items as Modules)."""
        return [[cast(Fusion, fusion) for fusion in cast(nn.ModuleList, cell)] for cell in self.cells]

    def fusions(self) -> Iterator[tuple[str, Fusion]]:
        """Every fusion node's id and module, in execution order."""
        for k, cell in enumerate(self._cells(), start=1):
            for fusion, node in zip(cell, NODES, strict=False):
                yield self.node_id(k, node), fusion

    def _input_names(self) -> list[str]:
        return [f"C{lvl}" for lvl in self.levels[:len(self.in_channels)]]

    def _pyramid_ids(self) -> list[str]:
        """The first cell's five inputs: backbone levels, then the extra levels P6, P7."""
        return self._input_names() + [f"P{lvl}" for lvl in self.levels[len(self.in_channels):]]

    def _topology(self) -> Topology:
        names = self._input_names()
        nodes = input_nodes(names, self.levels[:len(names)])
        ids = self._pyramid_ids()
        for i in range(len(names), PYRAMID):
            lvl = self.levels[i]
            pool_steps, pool_layers = _resample_edge(1)
            if isinstance(self.extra_convs[i - len(names)], nn.Identity):
                edge = Edge(ids[i - 1], pool_steps, pool_layers)
                note = Note.of("bifpn_extra_pool", lvl=lvl - 1)
            else:
                edge = Edge(ids[i - 1], (Step.conv(1, norm=True), *pool_steps), (conv(1),) + pool_layers)
                note = Note.of("bifpn_extra_conv", ch=self.out_channels)
            nodes.append(Node(ids[i], Op.EXTRA, (edge,), lvl, note=note))

        node_conv = (conv(3), conv(1))  # depthwise 3×3, pointwise 1×1
        for k in range(1, self.stack_times + 1):
            levels = list(self.levels)
            for node in NODES:
                lvl = self.levels[node.level]
                inputs = []
                for i in node.inputs:
                    steps, layers = _resample_edge(lvl - levels[i])
                    if k == 1 and i < len(names) and self.in_channels[i] != self.out_channels:
                        steps, layers = (Step.conv(1, norm=True), *steps), (conv(1),) + layers
                    inputs.append(Edge(ids[i], steps, layers + node_conv))
                node_id = self.node_id(k, node)
                sources = ", ".join(ids[i] for i in node.inputs)
                nodes.append(Node(node_id, Op.WEIGHTED_SUM, tuple(inputs), lvl, stage=k,
                                  note=Note.of("bifpn_fuse", sources=sources)))
                ids.append(node_id)
                levels.append(lvl)
            ids = ids[-PYRAMID:]  # the cell's outputs, P3 … P7: the last five nodes
        return Topology("bifpn", tuple(nodes), tuple(ids), extras={"nodes": NODES})

    # --- computation ------------------------------------------------------------------------
    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} levels, got {len(feats)}")
        ids = self._pyramid_ids()
        maps = [record(name, x) for name, x in zip(ids, feats, strict=False)]
        for i, extra in enumerate(self.extra_convs, start=len(feats)):
            maps.append(record(ids[i], F.max_pool2d(extra(maps[-1]), 3, 2, 1)))
        sizes = [x.shape[-2:] for x in maps]  # every node at a level has that level's size
        for k, cell in enumerate(self._cells(), start=1):
            offsets = list(range(PYRAMID))  # level offset of every node so far in this cell
            for fusion, node in zip(cell, NODES, strict=False):
                maps.append(fusion(maps, offsets, node, sizes[node.level], self.node_id(k, node)))
                offsets.append(node.level)
            maps = maps[-PYRAMID:]
        return maps


def edge_weight_table(neck: BiFPN) -> dict[str, list[float]]:
    """The raw (unnormalised) fusion weights of every node, by node id."""
    return {node_id: fusion.edge_weights.detach().cpu().tolist() for node_id, fusion in neck.fusions()}


def with_edge_weights(neck: BiFPN, weights: Mapping[str, Sequence[float]]) -> BiFPN:
    """A copy of `neck` whose named nodes have these raw fusion weights; `neck` itself (e.g. the
    cached model every session shares) is left untouched.

    The copy is built anew and loads `neck`'s state rather than being deep-copied: a deep copy
    would also copy hooks that a concurrent traced run has on `neck` at that moment."""
    with RNG_LOCK, torch.random.fork_rng(devices=[]):  # its fresh init is overwritten: keep the RNG as it was
        edited = BiFPN(neck.in_channels, neck.out_channels, neck.num_outs, neck.stack_times, neck.first_level)
    edited.load_state_dict(neck.state_dict())
    edited.to(next(neck.parameters()).device).train(neck.training)
    fusions = dict(edited.fusions())
    for node_id, values in weights.items():
        if node_id not in fusions:
            raise KeyError(f"{node_id!r} is not a fusion node of this BiFPN")
        parameter = fusions[node_id].edge_weights
        if len(values) != len(parameter):
            raise ValueError(f"{node_id} fuses {len(parameter)} inputs, got {len(values)} weights")
        with torch.no_grad():
            parameter.copy_(torch.as_tensor(values, dtype=parameter.dtype))
    return edited


SPECS = (NeckSpec("bifpn", "BiFPN", BiFPN, "Tan et al., EfficientDet, CVPR 2020",
                  "rwightman/efficientdet-pytorch effdet/efficientdet.py (efficientdet_d0)",
                  dict(in_channels=[40, 112, 320], out_channels=64, num_outs=5, stack_times=3, first_level=3), 194_361,
                  order=60, controls=(OUT_CHANNELS, Control("stack_times", "cells", "int", 3, minimum=1, maximum=8))),)
