"""FPN (Lin et al. 2017), structured as mmdetection 3.x `necks/fpn.py`.

1×1 lateral convs bring every used level to `out_channels`; the top-down pathway walks from the
coarsest level down, adding the nearest-upsampled coarser map to each lateral; a 3×3 conv smooths
each merged map; extra levels come from stride-2 max-pooling of the top output (kernel 1) or, with
`add_extra_convs`, from 3×3 stride-2 convs. No norm, no activation, biases on; Xavier-uniform init.
Standard configuration [256, 512, 1024, 2048] → 256, 5 outputs: 3,344,384 parameters.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.receptive_field import conv, up
from necklab.graph.topology import Edge, Node, Note, Op, Step, Topology, input_nodes
from necklab.graph.trace import record
from necklab.models.layers import Neck, conv_block, init_convs, upsample_to
from necklab.models.refusal import ConfigError
from necklab.models.spec import EXTRA_CONVS, NUM_OUTS, OUT_CHANNELS, STANDARD_FPN, NeckSpec

EXTRA_SOURCES = (False, "on_input", "on_lateral", "on_output")


class FPN(Neck):
    def __init__(
        self,
        in_channels: Sequence[int] = (24, 40, 112, 320),
        out_channels: int = 64,
        num_outs: int = 5,
        start_level: int = 0,
        add_extra_convs: bool | str = False,
        relu_before_extra_convs: bool = False,
        norm: bool = False,
        first_level: int = 2,
    ) -> None:
        super().__init__()
        if add_extra_convs is True:
            add_extra_convs = "on_input"
        if add_extra_convs not in EXTRA_SOURCES:
            raise ConfigError("choice", setting="add_extra_convs", choices=", ".join(map(str, EXTRA_SOURCES)))
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.start_level = start_level
        self.used = len(self.in_channels) - start_level  # backbone levels the FPN consumes
        if not 1 <= self.used <= num_outs:
            raise ConfigError("outs_cover_inputs", outs=num_outs, used=self.used)
        self.num_outs = num_outs
        self.add_extra_convs = add_extra_convs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.first_level = first_level
        self.levels = [first_level + start_level + i for i in range(self.used)]

        self.lateral_convs = nn.ModuleList(
            conv_block(c, out_channels, 1, norm=norm) for c in self.in_channels[start_level:])
        self.fpn_convs = nn.ModuleList(conv_block(out_channels, out_channels, 3, norm=norm)
                                       for _ in range(self.used))
        extra = num_outs - self.used
        if add_extra_convs:
            for i in range(extra):
                source = self.in_channels[-1] if i == 0 and add_extra_convs == "on_input" else out_channels
                self.fpn_convs.append(conv_block(source, out_channels, 3, stride=2, norm=norm))
        self._add_modules(norm)
        init_convs(self, "xavier_uniform")
        self.topology = self._topology()

    def _add_modules(self, norm: bool) -> None:
        """Hook for subclasses that extend FPN with more layers (PAFPN's bottom-up path)."""

    # --- node ids, named once for the topology and the forward pass --------------------------
    _output_prefix = "P"  # PAFPN renames its FPN-stage outputs

    @staticmethod
    def lateral_id(lvl: int, prefix: str = "") -> str:
        return f"{prefix}L{lvl}"

    @staticmethod
    def merged_id(lvl: int, prefix: str = "") -> str:
        return f"{prefix}T{lvl}"

    def output_id(self, lvl: int, prefix: str = "") -> str:
        return f"{prefix}{self._output_prefix}{lvl}"

    @staticmethod
    def level_id(lvl: int, prefix: str = "") -> str:
        """The neck's output at a level above the FPN stage's (and PAFPN's bottom-up outputs)."""
        return f"{prefix}P{lvl}"

    # --- structure --------------------------------------------------------------------------
    def _input_names(self) -> list[str]:
        return [f"C{self.first_level + i}" for i in range(len(self.in_channels))]

    def _fpn_nodes(self, prefix: str = "", stage: int | None = None, inputs_prefix: str = "") -> list[Node]:
        """Lateral, top-down and output nodes (the part Recursive-FPN runs twice: its second pass
        reads the rerun backbone's levels, named with `inputs_prefix`)."""
        names = [inputs_prefix + name for name in self._input_names()[self.start_level:]]
        nodes = [Node(self.lateral_id(lvl, prefix), Op.LATERAL, (Edge(src, (Step.conv(1),), (conv(1),)),), lvl,
                      stage=stage, note=Note.of("fpn_lateral", lvl=lvl, ch=self.out_channels))
                 for src, lvl in zip(names, self.levels, strict=False)]
        top = self.levels[-1]
        merged = {top: self.lateral_id(top, prefix)}
        for lvl in reversed(self.levels[:-1]):
            nodes.append(Node(self.merged_id(lvl, prefix), Op.ADD, (
                Edge(self.lateral_id(lvl, prefix)),
                Edge(merged[lvl + 1], (Step.up(),), (up(2),))), lvl, stage=stage,
                note=Note.of("fpn_topdown", src=lvl + 1, lvl=lvl)))
            merged[lvl] = self.merged_id(lvl, prefix)
        nodes += [Node(self.output_id(lvl, prefix), Op.CONV, (Edge(merged[lvl], (Step.conv(3),), (conv(3),)),),
                       lvl, stage=stage, note=Note("fpn_smooth"))
                  for lvl in self.levels]
        return nodes

    def _extra_nodes(self, sources: dict[str, str], prefix: str = "", stage: int | None = None) -> list[Node]:
        """Levels above the backbone's: `sources` names the node ids of 'input', 'lateral', 'output'."""
        nodes = []
        top = self.levels[-1]
        for i in range(self.num_outs - self.used):
            lvl = top + 1 + i
            below = self.level_id(lvl - 1, prefix)
            if not self.add_extra_convs:
                edge = Edge(sources["output"] if i == 0 else below, (Step.max_pool(1, 2),), (conv(1, 2),))
                note = Note("fpn_extra_pool")
            else:
                src = sources[self.add_extra_convs.removeprefix("on_")] if i == 0 else below
                edge = Edge(src, (Step.conv(3, 2),), (conv(3, 2),))
                note = Note("fpn_extra_conv")
            nodes.append(Node(self.level_id(lvl, prefix), Op.EXTRA, (edge,), lvl, stage=stage, note=note))
        return nodes

    def _outputs(self, prefix: str = "") -> tuple[str, ...]:
        return tuple(self.level_id(lvl, prefix) for lvl in range(self.levels[0], self.levels[0] + self.num_outs))

    def _topology(self) -> Topology:
        names = self._input_names()
        top = self.levels[-1]
        nodes = input_nodes(names, [self.first_level + i for i in range(len(names))])
        nodes += self._fpn_nodes()
        nodes += self._extra_nodes({"input": names[-1], "lateral": self.lateral_id(top), "output": self.output_id(top)})
        return Topology("fpn", tuple(nodes), self._outputs())

    # --- computation ------------------------------------------------------------------------
    def _record_inputs(self, feats: Sequence[Tensor]) -> None:
        if len(feats) != len(self.in_channels):
            raise ValueError(f"expected {len(self.in_channels)} levels, got {len(feats)}")
        for name, x in zip(self._input_names(), feats, strict=False):
            record(name, x)

    def top_down(self, feats: Sequence[Tensor], prefix: str = "") -> tuple[list[Tensor], list[Tensor]]:
        """Laterals and the merged top-down maps (index 0 = finest used level)."""
        laterals = [record(self.lateral_id(lvl, prefix), lateral(feats[self.start_level + i]))
                    for i, (lvl, lateral) in enumerate(zip(self.levels, self.lateral_convs, strict=False))]
        merged = list(laterals)
        for i in range(self.used - 2, -1, -1):
            merged[i] = record(self.merged_id(self.levels[i], prefix),
                               laterals[i] + upsample_to(merged[i + 1], laterals[i].shape[-2:]))
        return laterals, merged

    def extra_levels(self, outs: list[Tensor], feats: Sequence[Tensor], lateral_top: Tensor,
                     prefix: str = "") -> list[Tensor]:
        top = self.levels[-1]
        for i in range(self.num_outs - self.used):
            if not self.add_extra_convs:
                x = F.max_pool2d(outs[-1], 1, stride=2)
            else:
                if i == 0:
                    x = {"on_input": feats[-1], "on_lateral": lateral_top, "on_output": outs[-1]}[self.add_extra_convs]
                else:
                    x = F.relu(outs[-1]) if self.relu_before_extra_convs else outs[-1]
                x = self.fpn_convs[self.used + i](x)
            outs.append(record(self.level_id(top + 1 + i, prefix), x))
        return outs

    def fpn_forward(self, feats: Sequence[Tensor], prefix: str = "") -> list[Tensor]:
        laterals, merged = self.top_down(feats, prefix)
        outs = [record(self.output_id(lvl, prefix), conv(m))
                for lvl, conv, m in zip(self.levels, self.fpn_convs, merged, strict=False)]
        return self.extra_levels(outs, feats, laterals[-1], prefix)

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        self._record_inputs(feats)
        return self.fpn_forward(feats)


SPECS = (NeckSpec("fpn", "FPN", FPN, "Lin et al., Feature Pyramid Networks for Object Detection, CVPR 2017",
                  "mmdetection 3.x mmdet/models/necks/fpn.py", STANDARD_FPN, 3_344_384, order=30,
                  controls=(OUT_CHANNELS, NUM_OUTS, EXTRA_CONVS)),)
