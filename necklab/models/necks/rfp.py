"""Recursive-FPN (DetectoRS, Qiao et al. 2021), structured as mmdetection 3.x `necks/rfp.py`.

Pass 1 is a plain FPN. Its outputs go back into a second copy of the backbone: a small ASPP
(1×1, 3×3 rate 3, 3×3 rate 6, and global-pool branches of `aspp_out_channels` each, biases on, ReLU,
no norm) turns each level into feedback, which a zero-initialised 1×1 conv adds after the first
block of the backbone stage at that stride. The backbone runs again on the picture, the *same* FPN
runs again, and a learned per-pixel gate fuses the two passes: w = σ(1×1 conv(new)),
out = w·new + (1 − w)·old. The gate conv starts at zero (w = ½).

With the reference's initialisation the feedback convs are zero, so pass 2 equals pass 1 and the
gate returns pass 1 unchanged: what the second pass learns comes only from training (trained weights,
where they ship, start from that initialisation). `feedback_init="random"` gives the feedback convs
and the gate small random weights to make the mechanism visible with fresh weights; the app says
which one it shows.

Parameters of the standard configuration ([256, 512, 1024, 2048] → 256, rfp_steps 2, ASPP 64,
dilations (1, 3, 6, 1)), excluding the re-run backbone: FPN 3,344,384 + ASPP 327,936 + gate 257 =
3,672,577. The re-run backbone here is EfficientNet-Lite0 with its ImageNet weights plus one
feedback conv per stride-8/16/32 stage (DetectoRS: ResNet-50 stages 2–4).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.receptive_field import GLOBAL, Layer, conv
from necklab.graph.topology import Edge, Move, Node, Note, Op, Role, Step, Topology, input_nodes
from necklab.graph.trace import record
from necklab.models.backbone import LevelInfo, build_backbone
from necklab.models.layers import bias_of
from necklab.models.necks.fpn import FPN
from necklab.models.refusal import ConfigError
from necklab.models.spec import STANDARD_FPN, Control, NeckSpec

FEEDBACK_INITS = ("reference", "random")
IMAGE = "image"  # the input node of the normalised picture, which the second pass reruns the backbone on


class FeedbackASPP(nn.Module):
    """DetectoRS's ASPP: branches concatenated, so out = len(dilations) × out_channels.
    A dilation of 1 is a 1×1 conv; the last branch runs on the global average."""

    def __init__(self, in_channels: int, out_channels: int, dilations: Sequence[int] = (1, 3, 6, 1)) -> None:
        super().__init__()
        if dilations[-1] != 1:
            raise ConfigError("pool_branch_dilation")
        self.dilations = tuple(dilations)
        branches = [
            nn.Conv2d(in_channels, out_channels, 3 if d > 1 else 1, dilation=d, padding=d if d > 1 else 0, bias=True)
            for d in dilations]
        self.branches = nn.ModuleList(branches)
        # The ASPP's declared rule, mmdet `init_cfg=dict(type='Kaiming')` (mmcv kaiming_init: normal,
        # fan_out, relu; bias 0), which mmdet before 2.12 applied in __init__. Since then
        # RFP.init_weights never calls the ASPP's init_weights (nor does DetectoRS_ResNet's reach the
        # Bottleneck's zero `rfp_conv` init_cfg when it loads its checkpoint), so a fresh mmdet 3.x
        # model in fact keeps PyTorch's default for both; NeckLab follows the declared rules.
        for branch in branches:
            nn.init.kaiming_normal_(branch.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(bias_of(branch))

    def forward(self, x: Tensor) -> Tensor:
        outs = [F.relu(branch(x)) for branch in self.branches[:-1]]
        pooled = F.relu(self.branches[-1](F.adaptive_avg_pool2d(x, 1)))
        outs.append(pooled.expand_as(outs[-1]))
        return torch.cat(outs, dim=1)


class FeedbackBackbone(Protocol):
    """What the second pass needs of a re-run backbone (EfficientNetLite0 has it)."""

    @property
    def feature_info(self) -> Sequence[LevelInfo]: ...

    def forward_features(self, x: Tensor, feedback: dict[int, Tensor] | None = None,
                         on_level: Callable[[str, Tensor], Tensor] | None = None) -> list[Tensor]: ...


class RFP(FPN):
    """`forward(feats)` takes [picture, C2, …, C5] — the normalised picture first, as mmdet's RFP
    does — because the second pass reruns the backbone on it. `backbone` builds the feedback
    backbone from the feedback channel count (default: EfficientNet-Lite0 with ImageNet weights)."""

    uncounted_prefixes = ("rfp_modules.",)  # the reference counts RFP without its re-run backbones
    owned_in_uncounted = ("rfp_conv",)  # the feedback convs train with the neck; the backbone copy stays frozen

    def __init__(
        self,
        in_channels: Sequence[int] = (24, 40, 112, 320),
        out_channels: int = 64,
        num_outs: int = 5,
        start_level: int = 0,
        rfp_steps: int = 2,
        aspp_out_channels: int = 16,
        aspp_dilations: Sequence[int] = (1, 3, 6, 1),
        feedback_init: str = "reference",
        backbone: Callable[[int], nn.Module] = build_backbone,
        first_level: int = 2,
    ) -> None:
        super().__init__(in_channels, out_channels, num_outs, start_level, first_level=first_level)
        if rfp_steps < 2:
            raise ConfigError("two_passes", got=rfp_steps)
        if feedback_init not in FEEDBACK_INITS:
            raise ConfigError("choice", setting="feedback_init", choices=", ".join(FEEDBACK_INITS))
        if aspp_out_channels * len(aspp_dilations) != out_channels:
            raise ConfigError("feedback_channels", branch=aspp_out_channels, branches=len(aspp_dilations),
                              out=out_channels)
        self.rfp_steps = rfp_steps
        self.aspp_dilations = tuple(aspp_dilations)
        self.rfp_modules = nn.ModuleList(backbone(out_channels) for _ in range(rfp_steps - 1))
        self.rfp_aspp = FeedbackASPP(out_channels, aspp_out_channels, aspp_dilations)
        self.rfp_weight = nn.Conv2d(out_channels, 1, 1, bias=True)
        nn.init.zeros_(self.rfp_weight.weight)
        nn.init.zeros_(bias_of(self.rfp_weight))
        if feedback_init == "random":
            convs = [self.rfp_weight]
            for b in self.rfp_modules:
                for m in b.modules():
                    feedback_conv = getattr(m, "rfp_conv", None)
                    if feedback_conv is not None:
                        convs.append(feedback_conv)
            for c in convs:
                nn.init.normal_(c.weight, std=0.01)
        self.feedback_levels = [lvl for lvl in self.levels if self._backbone_takes_feedback(lvl)]
        self.topology = self._rfp_topology()

    def _backbone_takes_feedback(self, level: int) -> bool:
        return level > self.levels[0] and level <= self.levels[-1]

    def _backbone_chain(self) -> dict[str, list[Layer]]:
        chain = getattr(self.rfp_modules[0], "layer_chain", None)
        layers: dict[str, list[Layer]] = chain() if chain else {}
        return layers

    # Node ids of a pass (prefix "2.", "3.", …), named once for the topology and the forward pass.
    @staticmethod
    def pass_prefix(step: int) -> str:
        return f"{step}."

    @staticmethod
    def feedback_id(lvl: int, prefix: str) -> str:
        return f"{prefix}A{lvl}"

    @staticmethod
    def gate_id(lvl: int, prefix: str) -> str:
        return f"{prefix}G{lvl}"

    def _rfp_topology(self) -> Topology:
        names = self._input_names()
        nodes = input_nodes([IMAGE], [0], Note("picture")) + input_nodes(
            names, [self.first_level + i for i in range(len(names))])
        chain = self._backbone_chain()
        first = self.pass_prefix(1)
        nodes += self._fpn_nodes(first, stage=1)
        nodes += self._extra_nodes(self._extra_sources(first, names), first, stage=1)
        previous = {lvl: self.level_id(lvl, first) for lvl in self._output_levels()}
        for step in range(2, self.rfp_steps + 1):
            p = self.pass_prefix(step)
            for lvl in self.feedback_levels:
                nodes.append(Node(self.feedback_id(lvl, p), Op.ASPP, (
                    Edge(previous[lvl], (Step(Move.FEEDBACK_ASPP),), (conv(3, dilation=6),)),
                    Edge(previous[lvl], (Step(Move.GLOBAL_POOL),), (GLOBAL,))), lvl, stage=step, note=Note("rfp_aspp")))
            below_layers: list[Layer] = []
            for i, name in enumerate(names):
                lvl = self.first_level + i
                layers = chain.get(name, [])
                edges = [Edge(IMAGE if i == 0 else f"{p}{names[i - 1]}", (Step(Move.BACKBONE_STAGE),),
                              tuple(layers[len(below_layers):]))]
                below_layers = layers
                if lvl in self.feedback_levels:
                    edges.append(Edge(self.feedback_id(lvl, p), (Step(Move.FEEDBACK_CONV),), (conv(1),)))
                nodes.append(Node(f"{p}{name}", Op.BACKBONE, tuple(edges), lvl, stage=step, note=Note("rfp_backbone")))
            nodes += self._fpn_nodes(p, stage=step, inputs_prefix=p)
            nodes += self._extra_nodes(self._extra_sources(p, names), p, stage=step)
            for lvl in self._output_levels():
                nodes.append(Node(self.gate_id(lvl, p), Op.GATE, (Edge(self.level_id(lvl, p), role=Role.GATE_NEW),
                                                                  Edge(previous[lvl], role=Role.GATE_OLD)),
                                  lvl, stage=step, note=Note("rfp_gate")))
            previous = {lvl: self.gate_id(lvl, p) for lvl in self._output_levels()}
        return Topology("rfp", tuple(nodes), tuple(previous.values()))

    def _output_levels(self) -> list[int]:
        return list(range(self.levels[0], self.levels[0] + self.num_outs))

    def _extra_sources(self, prefix: str, names: list[str]) -> dict[str, str]:
        top = self.levels[-1]
        return {"input": f"{prefix}{names[-1]}", "lateral": self.lateral_id(top, prefix),
                "output": self.output_id(top, prefix)}

    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        image, *levels = feats
        record(IMAGE, image)
        self._record_inputs(levels)
        x = self.fpn_forward(levels, self.pass_prefix(1))
        output_levels = self._output_levels()
        used = {f"C{self.first_level + i}" for i in range(len(self.in_channels))}  # levels the FPN reads
        for step in range(2, self.rfp_steps + 1):
            p = self.pass_prefix(step)
            # mmdet also runs the ASPP on the top extra level, whose feedback no stage takes; skipped.
            feedback = {lvl: record(self.feedback_id(lvl, p), self.rfp_aspp(x[output_levels.index(lvl)]))
                        for lvl in self.feedback_levels}
            # built by `backbone`; torch types a ModuleList's items as plain Modules
            backbone = cast(FeedbackBackbone, self.rfp_modules[step - 2])

            def record_level(name: str, x: Tensor, p: str = p) -> Tensor:
                # Recorded as each level finishes, so each node is credited with its own stages.
                return record(f"{p}{name}", x) if name in used else x

            rerun = backbone.forward_features(image, feedback, on_level=record_level)
            by_name = {info.name: f for info, f in zip(backbone.feature_info, rerun, strict=False)}
            new_levels = [by_name[f"C{self.first_level + i}"] for i in range(len(self.in_channels))]
            new = self.fpn_forward(new_levels, p)
            fused = []
            for lvl, n, old in zip(output_levels, new, x, strict=False):
                gate = torch.sigmoid(self.rfp_weight(n))
                fused.append(record(self.gate_id(lvl, p), gate * n + (1 - gate) * old, gate=gate))
            x = fused
        return x


SPECS = (NeckSpec("rfp", "Recursive-FPN", RFP, "Qiao et al., DetectoRS, CVPR 2021",
                  "mmdetection 3.x mmdet/models/necks/rfp.py",
                  dict(STANDARD_FPN, rfp_steps=2, aspp_out_channels=64, aspp_dilations=(1, 3, 6, 1)), 3_672_577,
                  notes="rfp_params", order=80,
                  controls=(Control("feedback_init", "feedback_weights", "choice", "reference",
                                    choices=("reference", "random"),
                                    choice_keys=("feedback_reference", "feedback_random")),
                            Control("rfp_steps", "passes", "int", 2, minimum=2, maximum=3))),)
