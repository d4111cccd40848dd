"""PANet's path aggregation FPN (Liu et al. 2018), structured as mmdetection 3.x `necks/pafpn.py`.

It is FPN plus a bottom-up path: starting from the finest FPN output, each level adds a 3×3
stride-2 conv of the *already augmented* level below, then a further 3×3 conv smooths every level
except the finest, which is passed through unchanged. The bottom-up path gives the top levels a
short route (a dozen layers) to fine, well-localised features instead of the long one through the
backbone. Standard configuration [256, 512, 1024, 2048] → 256, 5 outputs: 6,884,864 parameters.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from necklab.graph.receptive_field import conv
from necklab.graph.topology import Edge, Node, Note, Op, Step, Topology, input_nodes
from necklab.graph.trace import record
from necklab.models.layers import conv_block
from necklab.models.necks.fpn import FPN
from necklab.models.spec import EXTRA_CONVS, NUM_OUTS, OUT_CHANNELS, STANDARD_FPN, NeckSpec


class PAFPN(FPN):
    _output_prefix = "F"  # FPN-stage outputs; the neck's outputs are the bottom-up P levels

    @staticmethod
    def augmented_id(lvl: int) -> str:
        """A level of the bottom-up path after its merge (before its 3×3 conv)."""
        return f"N{lvl}"

    def _add_modules(self, norm: bool) -> None:
        steps = self.used - 1
        self.downsample_convs = nn.ModuleList(
            conv_block(self.out_channels, self.out_channels, 3, stride=2, norm=norm) for _ in range(steps))
        self.pafpn_convs = nn.ModuleList(
            conv_block(self.out_channels, self.out_channels, 3, norm=norm) for _ in range(steps))

    def _topology(self) -> Topology:
        names = self._input_names()
        finest, top = self.levels[0], self.levels[-1]
        nodes = input_nodes(names, [self.first_level + i for i in range(len(names))])
        nodes += self._fpn_nodes()
        below = self.output_id(finest)  # the finest level is not augmented: N_finest = F_finest
        for lvl in self.levels[1:]:
            nodes.append(Node(self.augmented_id(lvl), Op.ADD, (
                Edge(self.output_id(lvl)),
                Edge(below, (Step.conv(3, 2),), (conv(3, 2),))), lvl,
                note=Note.of("pafpn_bottomup", src=lvl - 1, lvl=lvl)))
            below = self.augmented_id(lvl)
        for lvl in self.levels[1:]:
            nodes.append(Node(self.level_id(lvl), Op.CONV, (Edge(self.augmented_id(lvl), (Step.conv(3),), (conv(3),)),),
                              lvl, note=Note("pafpn_conv")))
        nodes += self._extra_nodes({"input": names[-1], "lateral": self.lateral_id(top), "output": self.level_id(top)})
        outputs = (self.output_id(finest),) + self._outputs()[1:]
        return Topology("pafpn", tuple(nodes), outputs)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        self._record_inputs(feats)
        laterals, merged = self.top_down(feats)
        fpn_outs = [record(self.output_id(lvl), c(m))
                    for lvl, c, m in zip(self.levels, self.fpn_convs, merged, strict=False)]
        augmented = [fpn_outs[0]]
        for i, lvl in enumerate(self.levels[1:]):
            augmented.append(record(self.augmented_id(lvl), fpn_outs[i + 1] + self.downsample_convs[i](augmented[-1])))
        outs = [fpn_outs[0]] + [record(self.level_id(lvl), c(x))
                                for lvl, c, x in zip(self.levels[1:], self.pafpn_convs, augmented[1:], strict=False)]
        return self.extra_levels(outs, feats, laterals[-1])


SPECS = (NeckSpec("pafpn", "PANet (PAFPN)", PAFPN,
                  "Liu et al., Path Aggregation Network for Instance Segmentation, CVPR 2018",
                  "mmdetection 3.x mmdet/models/necks/pafpn.py", STANDARD_FPN, 6_884_864, tab="PANet", order=40,
                  controls=(OUT_CHANNELS, NUM_OUTS, EXTRA_CONVS)),)
