"""ASPP, atrous spatial pyramid pooling (DeepLabv3, Chen et al. 2017), structured as torchvision
`models/segmentation/deeplabv3.py` class `ASPP`.

Five parallel branches read the same map: a 1×1 conv; one 3×3 conv per atrous rate r, dilated by r
(padding r keeps the size), so its nine taps sit r cells apart; and image pooling — global average
pool → 1×1 conv → BN → ReLU → bilinear upsample back to the map size (every cell gets the same
value, up to bilinear rounding). Every conv is bias-free and followed by BN (PyTorch defaults, eps
1e-5) and ReLU. The branch outputs are concatenated and projected by a 1×1 conv + BN + ReLU +
Dropout(0.5) (identity in eval). torchvision keeps PyTorch's default init, and its state-dict layout
is kept too (`convs.0` 1×1, `convs.1…` dilated, `convs.-1` pooling, `project`). Standard
configuration 2048 → 256, rates (12, 24, 36): 15,535,104 parameters.

Use it in eval mode: in train mode the pooling branch's BN sees one value per channel at batch 1 and
PyTorch refuses ("Expected more than 1 value per channel when training").

DeepLabv3's observation, recorded as `degenerate` in each dilated branch's extras: when the map is no
larger than the rate in both directions (H ≤ r and W ≤ r), all eight off-centre taps fall into the
zero padding at every position, and the 3×3 conv acts as a 1×1 conv with its centre weights. On a
5×7 C5 map (a 160×224 picture) every default rate degenerates.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.receptive_field import GLOBAL, conv
from necklab.graph.topology import Edge, Move, Node, Note, Op, Step, Topology, input_nodes
from necklab.graph.trace import record
from necklab.models.layers import Neck, conv_block, init_convs
from necklab.models.refusal import ConfigError
from necklab.models.spec import Control, NeckSpec


def degenerate(height: int, width: int, rate: int) -> bool:
    """True when a 3×3 conv at dilation `rate` sees only its centre tap everywhere on a height×width
    map: every off-centre tap is ≥ rate cells away, so outside when the map has at most rate cells."""
    return height <= rate and width <= rate


class ASPP(Neck):
    def __init__(
        self,
        in_channels: int = 320,
        atrous_rates: Sequence[int] = (12, 24, 36),
        out_channels: int = 256,
        first_level: int = 5,
    ) -> None:
        super().__init__()
        if len(set(atrous_rates)) != len(atrous_rates):
            raise ConfigError("distinct_rates", rates=", ".join(map(str, atrous_rates)))
        self.in_channels = in_channels
        self.atrous_rates = tuple(atrous_rates)
        self.out_channels = out_channels
        self.first_level = first_level

        def block(c_in: int, kernel: int, dilation: int = 1) -> list[nn.Module]:
            # Unpacked into index-named Sequentials so the state-dict keys are torchvision's
            # (convs.i.j, project.j): a torchvision ASPP state dict loads as it is.
            return list(conv_block(c_in, out_channels, kernel, dilation=dilation, norm=True, act="relu",
                                   bias=False))

        # convs: the 1×1 branch, one dilated branch per rate (in `atrous_rates` order), image pooling.
        self.convs = nn.ModuleList(
            [nn.Sequential(*block(in_channels, 1))]
            + [nn.Sequential(*block(in_channels, 3, r)) for r in self.atrous_rates]
            + [nn.Sequential(nn.AdaptiveAvgPool2d(1), *block(in_channels, 1))])
        self.project = nn.Sequential(*block(out_channels * len(self.convs), 1), nn.Dropout(0.5))
        init_convs(self, "default")
        self.topology = self._topology()

    # --- structure --------------------------------------------------------------------------
    def _input_name(self) -> str:
        return f"C{self.first_level}"

    @staticmethod
    def rate_id(rate: int) -> str:
        return f"rate{rate}"

    def _branches(self) -> list[str]:
        return ["b1x1", *(self.rate_id(r) for r in self.atrous_rates), "pool"]

    def _topology(self) -> Topology:
        level = self.first_level
        source = self._input_name()
        nodes = input_nodes([source], [level])
        nodes.append(Node("b1x1", Op.CONV, (Edge(source, (Step.conv(1),), (conv(1),)),), level, branch="1×1",
                          note=Note("aspp_1x1")))
        nodes += [Node(self.rate_id(r), Op.CONV, (Edge(source, (Step.conv(3, rate=r),), (conv(3, dilation=r),)),),
                       level, branch=f"rate {r}", note=Note.of("aspp_atrous", r=r, s=2 * r + 1))
                  for r in self.atrous_rates]
        nodes.append(Node("pool", Op.IMAGE_POOLING, (Edge(source, (Step(Move.GLOBAL_POOL),), (GLOBAL, conv(1))),),
                          level, branch="image pool", note=Note("aspp_pool")))
        nodes.append(Node("concat", Op.CONCAT, tuple(Edge(b, (Step(Move.CONCAT),)) for b in self._branches()), level,
                          note=Note.of("aspp_concat", n=len(self.atrous_rates) + 2)))
        nodes.append(Node("project", Op.CONV, (Edge("concat", (Step.conv(1),), (conv(1),)),), level,
                          note=Note("aspp_project")))
        return Topology("aspp", tuple(nodes), ("project",))

    # --- computation ------------------------------------------------------------------------
    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != 1:
            raise ValueError(f"ASPP takes one map, got {len(feats)}")
        x = record(self._input_name(), feats[0])
        height, width = x.shape[-2:]
        outs = [record("b1x1", self.convs[0](x))]
        for r, branch in zip(self.atrous_rates, self.convs[1:-1], strict=False):
            outs.append(record(self.rate_id(r), branch(x), degenerate=degenerate(height, width, r)))
        pooled = F.interpolate(self.convs[-1](x), size=(height, width), mode="bilinear", align_corners=False)
        outs.append(record("pool", pooled))
        y = record("concat", torch.cat(outs, dim=1))
        return [record("project", self.project(y))]


SPECS = (NeckSpec("aspp", "ASPP", ASPP, "Chen et al., Rethinking Atrous Convolution (DeepLabv3), 2017",
                  "torchvision models/segmentation/deeplabv3.py ASPP",
                  dict(in_channels=2048, atrous_rates=(12, 24, 36), out_channels=256), 15_535_104, order=20,
                  task="segment",
                  controls=(Control("atrous_rates", "atrous_rates", "ints", (12, 24, 36), minimum=1, maximum=64),
                            Control("out_channels", "output_channels", "int", 256, minimum=16, maximum=256, step=16))),)
