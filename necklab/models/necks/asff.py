"""ASFF, adaptively spatial feature fusion (Liu, Huang & Wang 2019), structured as GOATmessi7/ASFF
`models/network_blocks.py` class `ASFF`, with its three per-level modules held in one neck.

For each output level every input level is first resized to that level's size and channel count:
a coarser source gets a 1×1 conv when its channels differ, then nearest upsampling; a source one
level finer gets a 3×3 stride-2 conv; two levels finer, a 3×3 stride-2 max-pool and then the 3×3
stride-2 conv. Each resized map goes through its own 1×1 "weight" conv (to 16 channels); the three
are concatenated and a 1×1 conv with bias gives 3 channels, softmaxed over the levels per pixel. The
output is the weighted sum of the resized maps, widened by a 3×3 "expand" conv. Every conv except
that 3-channel one is bias-free + BN (eps 1e-5) + LeakyReLU(0.1). Init: the reference's training
script (`main.py`, `init_yolo`, applied to the whole fresh model) draws every conv from
kaiming_normal_(a=0.1, mode="fan_in") — std √(2 / 1.01) / √fan_in — with biases 0 and BN (1, 0).

Mapping to the reference. It numbers levels coarse → fine (its level 0 is the coarsest, 512
channels); here `in_channels` and `out_channels` run fine → coarse, like every neck in the zoo, and
the weights' three channels are ordered fine → coarse (the `sources` extras name them). The
reference hard-codes the channel counts; here the target's own channel count is its `inter_dim`,
and the rule "1×1 compress only where channels differ" is the one its variants use (the level-2
`compress_level_1` exists only when dims differ). With the reference's dims — in_channels (256, 256,
512), out_channels (256, 512, 1024), i.e. dim [512, 256, 256] and expand 1024/512/256 — this builds
exactly its modules: 7,106,803 + 1,915,123 + 734,451 = 9,756,377 parameters.

Sizes. The reference upsamples by scale_factor 2 and 4; here the upsampling goes to the target's
exact size, which is the same whenever sizes halve exactly and still works when they don't (the
backbone's SAME padding gives ceil(H/2) per level). A stride-2 conv (padding 1) also gives ceil(H/2),
so from the backbone it always lands on the target size; if the inputs were made by floor-halving
instead it lands one cell too large, and the result is nearest-resized to the target, which for an
off-by-one keeps the first H cells (drops the last row/column).

Node ids: inputs C3…C5; for output level l, `A{l}.from{s}` is source level s resized to level l (no
node for the target's own input, which is used as it is), `A{l}.fused` the weighted sum (extras:
`weights`, the (N, 3, H, W) softmax maps, and `sources`, the node each channel weighs), and `A{l}`
the expanded output. "A" for ASFF output, to keep them apart from an FPN's P levels.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.receptive_field import Layer, conv, up
from necklab.graph.topology import Edge, Node, Note, Op, Role, Step, Topology, input_nodes
from necklab.graph.trace import record
from necklab.models.layers import Neck, conv_block, init_convs, upsample_to
from necklab.models.refusal import ConfigError
from necklab.models.spec import NeckSpec

COMPRESS_C = 16  # channels of each weight conv (the reference uses 8 only with its RFB option)
NUM_LEVELS = 3  # the weight conv's softmax is over exactly three levels


def _add_conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return conv_block(in_channels, out_channels, kernel, stride, norm=True, act="leaky", bias=False)


class ASFFLevel(nn.Module):
    """The fusion into one target level (one reference `ASFF(level)` module).

    `resize` holds the convs that bring a source to the target, keyed by source node id; a source
    without an entry is used as it is (the target itself, or a coarser level with equal channels).
    """

    def __init__(self, in_channels: Sequence[int], source_names: Sequence[str], target: int,
                 out_channels: int) -> None:
        super().__init__()
        inter = in_channels[target]
        self.target = target
        self.source_names = tuple(source_names)
        self.resize = nn.ModuleDict()
        for s, (name, c) in enumerate(zip(source_names, in_channels, strict=False)):
            if s > target and c != inter:
                self.resize[name] = _add_conv(c, inter, 1)
            elif s < target:
                self.resize[name] = _add_conv(c, inter, 3, 2)
        self.weight_convs = nn.ModuleList(_add_conv(inter, COMPRESS_C, 1) for _ in in_channels)
        self.weight_levels = nn.Conv2d(COMPRESS_C * len(in_channels), len(in_channels), 1)
        self.expand = _add_conv(inter, out_channels, 3)

    def resized(self, s: int, x: Tensor, size: Sequence[int]) -> Tensor:
        """Source `s` (fine → coarse index) brought to the target's channels and `size`."""
        name = self.source_names[s]
        if s > self.target:
            return upsample_to(self.resize[name](x) if name in self.resize else x, size)
        if self.target - s == 2:
            x = F.max_pool2d(x, 3, stride=2, padding=1)
        x = self.resize[name](x)
        # Off by one only for floor-halved inputs; nearest resize then drops the extra row/column.
        return x if x.shape[-2:] == tuple(size) else upsample_to(x, size)

    def fuse(self, resized: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """The per-pixel softmax weights over the levels, and the weighted sum of the resized maps."""
        logits = self.weight_levels(torch.cat([w(x) for w, x in zip(self.weight_convs, resized, strict=False)], dim=1))
        weights = F.softmax(logits, dim=1)
        # builtin sum (0 + …, as the reference adds them) is typed Tensor | 0; there is always a map
        fused = cast(Tensor, sum(x * weights[:, i:i + 1] for i, x in enumerate(resized)))
        return weights, fused


class ASFF(Neck):
    def __init__(
        self,
        in_channels: Sequence[int] = (40, 112, 320),
        out_channels: Sequence[int] = (40, 112, 320),
        first_level: int = 3,
    ) -> None:
        super().__init__()
        if len(in_channels) != NUM_LEVELS or len(out_channels) != NUM_LEVELS:
            raise ConfigError("asff_levels", n=NUM_LEVELS, got=max(len(in_channels), len(out_channels)))
        self.in_channels = list(in_channels)
        self.out_channels = list(out_channels)
        self.first_level = first_level
        self.levels = [first_level + i for i in range(NUM_LEVELS)]
        names = self._input_names()
        self.fusions = nn.ModuleDict({self.output_id(lvl): ASFFLevel(self.in_channels, names, t, self.out_channels[t])
                                      for t, lvl in enumerate(self.levels)})
        init_convs(self, "yolov3_asff")
        self.topology = self._topology()

    def _level_fusions(self) -> list[tuple[str, ASFFLevel]]:
        """Each output node id and the module fusing into it, fine → coarse (torch types a
        ModuleDict's items as plain Modules)."""
        return [(out, cast(ASFFLevel, fusion)) for out, fusion in self.fusions.items()]

    # --- node ids, named once for the topology and the forward pass --------------------------
    def _input_names(self) -> list[str]:
        return [f"C{lvl}" for lvl in self.levels]

    @staticmethod
    def output_id(lvl: int) -> str:
        return f"A{lvl}"

    @staticmethod
    def resized_id(out: str, source_level: int) -> str:
        return f"{out}.from{source_level}"

    @staticmethod
    def fused_id(out: str) -> str:
        return f"{out}.fused"

    def _source_ids(self, t: int) -> tuple[str, ...]:
        """What output level t fuses: its own backbone level and the others resized to it."""
        out = self.output_id(self.levels[t])
        return tuple(name if s == t else self.resized_id(out, lvl)
                     for s, (name, lvl) in enumerate(zip(self._input_names(), self.levels, strict=False)))

    # --- structure --------------------------------------------------------------------------

    def _resize_edge(self, s: int, t: int) -> Edge:
        source = f"C{self.levels[s]}"
        if s > t:
            layers: tuple[Layer, ...] = (up(2 ** (s - t)),)
            if self.in_channels[s] != self.in_channels[t]:
                return Edge(source, (Step.conv(1), Step.up()), (conv(1),) + layers)
            return Edge(source, (Step.up(),), layers)
        if t - s == 2:
            return Edge(source, (Step.max_pool(3, 2), Step.conv(3, 2)), (conv(3, 2), conv(3, 2)))
        return Edge(source, (Step.conv(3, 2),), (conv(3, 2),))

    def _topology(self) -> Topology:
        names = self._input_names()
        nodes = input_nodes(names, self.levels)
        for t, lvl in enumerate(self.levels):
            out = self.output_id(lvl)
            for s, src_lvl in enumerate(self.levels):
                if s != t:
                    nodes.append(Node(self.resized_id(out, src_lvl), Op.RESIZE, (self._resize_edge(s, t),), lvl,
                                      note=Note.of("asff_resize", src=src_lvl, lvl=lvl, ch=self.in_channels[t])))
            nodes.append(Node(self.fused_id(out), Op.WEIGHTED_SUM,
                              tuple(Edge(src, role=Role.WEIGHTED) for src in self._source_ids(t)), lvl,
                              note=Note("asff_fuse")))
            nodes.append(Node(out, Op.CONV, (Edge(self.fused_id(out), (Step.conv(3),), (conv(3),)),), lvl,
                              note=Note.of("asff_expand", ch=self.out_channels[t])))
        return Topology("asff", tuple(nodes), tuple(self.output_id(lvl) for lvl in self.levels))

    # --- computation ------------------------------------------------------------------------
    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != NUM_LEVELS:
            raise ValueError(f"expected {NUM_LEVELS} levels, got {len(feats)}")
        names = self._input_names()
        for name, x in zip(names, feats, strict=False):
            record(name, x)
        outs = []
        for t, (out, fusion) in enumerate(self._level_fusions()):
            size = feats[t].shape[-2:]
            sources = self._source_ids(t)
            resized = [x if s == t else record(sources[s], fusion.resized(s, x, size)) for s, x in enumerate(feats)]
            weights, fused = fusion.fuse(resized)
            record(self.fused_id(out), fused, weights=weights, sources=sources)
            outs.append(record(out, fusion.expand(fused)))
        return outs


SPECS = (NeckSpec("asff", "ASFF", ASFF, "Liu et al., Learning Spatial Fusion for Single-Shot Object Detection, 2019",
                  "GOATmessi7/ASFF models/network_blocks.py ASFF (levels 0, 1, 2)",
                  dict(in_channels=(256, 256, 512), out_channels=(256, 512, 1024), first_level=3), 9_756_377,
                  order=70),)
