"""YOLO's SPP and SPPF blocks, structured as YOLOv5 `models/common.py` (`SPP`, `SPPF`).

Both halve the channels with a 1×1 Conv (cv1), max-pool the result at stride 1 with "same" padding
(k//2) so the map keeps its size, concatenate the Conv output with the pooled maps and mix them with
a second 1×1 Conv (cv2). SPP pools cv1's output in parallel with kernels 5, 9, 13; SPPF chains one
5×5 pool three times. Max-pooling with stride 1 composes exactly: two 5×5 pools are one 9×9 pool and
three are one 13×13 pool (the max over a max of windows is the max over their union), so with shared
weights SPPF(k) computes the same numbers as SPP(k, 2k−1, 3k−2), faster. YOLOv5's Conv is conv (no
bias) → BN → SiLU; YOLOv5's `initialize_weights` sets BN eps 1e-3 and momentum 0.03, convs keep
PyTorch's default init. Ultralytics 8.4 dropped the SiLU from SPPF's cv1, which breaks the equivalence
with SPP; this follows YOLOv5. Standard configuration 1024 → 1024: 2,624,512 parameters for both.

Each pool node's `argmax` extras (image 0 of the batch, shape (C, H, W)) are flat indices into cv1's
H×W map of the cell that wins each output cell; for SPPF's chain they are composed through the
earlier pools so they too point into cv1. They are computed only while a trace is recording.

`necklab.lab.spp_vs_sppf` runs both on one real map with shared weights and reports the (zero)
differences and the speed of each, for the lesson that SPPF is SPP, only faster.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.receptive_field import conv
from necklab.graph.topology import Edge, Move, Node, Note, Op, Step, Topology, input_nodes
from necklab.graph.trace import record, recording
from necklab.models.layers import Neck, conv_block, init_convs
from necklab.models.refusal import ConfigError
from necklab.models.spec import Control, NeckSpec

BN_EPS = 1e-3  # set by YOLOv5's initialize_weights, not by its Conv
BN_MOMENTUM = 0.03


def _yolo_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return conv_block(in_channels, out_channels, 1, norm=True, act="silu", bias=False,
                      bn_eps=BN_EPS, bn_momentum=BN_MOMENTUM)


def _max_pool(x: Tensor, kernel: int, argmax: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Stride-1 "same" max-pool. When tracing, also the winning cv1 cell of every output cell:
    `argmax` maps the input's cells to cv1 cells (None when the input is cv1 itself)."""
    if not recording():
        return F.max_pool2d(x, kernel, 1, kernel // 2), None
    pooled, index = F.max_pool2d(x, kernel, 1, kernel // 2, return_indices=True)
    if argmax is not None:
        index = argmax.flatten(2).gather(2, index.flatten(2)).view_as(index)
    return pooled, index


class _SPPBase(Neck):
    """cv1 → max-pools → concat → cv2, shared by SPP and SPPF so their weights have the same names.

    `pools` lists each pooled map as (node id, the node it pools, kernel): parallel pools all read
    cv1, a chain reads the previous pool. The topology and the forward both walk this list.
    """

    def __init__(self, in_channels: int, out_channels: int, pools: Sequence[tuple[str, str, int]],
                 first_level: int, name: str) -> None:
        super().__init__()
        if any(k % 2 == 0 for _, _, k in pools):
            raise ConfigError("odd_kernels", kernels=", ".join(str(k) for _, _, k in pools))
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.first_level = first_level
        self.pools = tuple(pools)
        hidden = in_channels // 2
        self.cv1 = _yolo_conv(in_channels, hidden)
        self.cv2 = _yolo_conv(hidden * (len(self.pools) + 1), out_channels)
        init_convs(self, "default")
        self.topology = self._topology(name)

    def _input_name(self) -> str:
        return f"C{self.first_level}"

    # --- structure --------------------------------------------------------------------------
    def _topology(self, name: str) -> Topology:
        level = self.first_level
        source = self._input_name()
        nodes = input_nodes([source], [level])
        nodes.append(Node("cv1", Op.CONV, (Edge(source, (Step.conv(1),), (conv(1),)),), level,
                          note=Note.of("spp_halve", c=self.in_channels, half=self.in_channels // 2)))
        nodes += [Node(pid, Op.MAX_POOL, (Edge(src, (Step.max_pool(k),), (conv(k),)),), level, branch=pid,
                       note=Note.of("spp_pool", k=k, src=src))
                  for pid, src, k in self.pools]
        concat = (Step(Move.CONCAT),)
        nodes.append(Node("concat", Op.CONCAT,
                          (Edge("cv1", concat),) + tuple(Edge(pid, concat) for pid, _, _ in self.pools),
                          level, note=Note("spp_concat")))
        nodes.append(Node("cv2", Op.CONV, (Edge("concat", (Step.conv(1),), (conv(1),)),), level,
                          note=Note("spp_mix")))
        return Topology(name, tuple(nodes), ("cv2",))

    # --- computation ------------------------------------------------------------------------
    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != 1:
            raise ValueError(f"{type(self).__name__} takes one map, got {len(feats)}")
        x = record("cv1", self.cv1(record(self._input_name(), feats[0])))
        maps: dict[str, Tensor] = {"cv1": x}
        argmax: dict[str, Tensor | None] = {"cv1": None}
        for pid, src, k in self.pools:
            pooled, where = _max_pool(maps[src], k, argmax[src])
            argmax[pid] = where
            extras = {} if where is None else {"argmax": where[0]}  # image 0, (C, H, W)
            maps[pid] = record(pid, pooled, **extras)
        y = record("concat", torch.cat(list(maps.values()), dim=1))
        return [record("cv2", self.cv2(y))]


class YoloSPP(_SPPBase):
    """YOLOv5 `SPP`: parallel stride-1 max-pools of cv1's output."""

    def __init__(
        self,
        in_channels: int = 320,
        out_channels: int = 320,
        kernel_sizes: Sequence[int] = (5, 9, 13),
        first_level: int = 5,
    ) -> None:
        super().__init__(in_channels, out_channels, [(f"pool{k}", "cv1", k) for k in kernel_sizes],
                         first_level, "yolo_spp")
        self.kernel_sizes = tuple(kernel_sizes)


class SPPF(_SPPBase):
    """YOLOv5 `SPPF`: one stride-1 max-pool applied three times in a chain."""

    def __init__(
        self,
        in_channels: int = 320,
        out_channels: int = 320,
        kernel_size: int = 5,
        first_level: int = 5,
    ) -> None:
        ids = [f"pool{kernel_size}_{i}" for i in (1, 2, 3)]
        pools = [(pid, src, kernel_size) for pid, src in zip(ids, ["cv1", *ids], strict=False)]  # each pools the last
        super().__init__(in_channels, out_channels, pools, first_level, "sppf")
        self.kernel_size = kernel_size

    @property
    def equivalent_kernel_sizes(self) -> tuple[int, ...]:
        """The parallel SPP kernels this chain equals: k, 2k−1, 3k−2 (5 → 5, 9, 13)."""
        k = self.kernel_size
        return tuple(i * (k - 1) + 1 for i in range(1, len(self.pools) + 1))

    @classmethod
    def from_spp(cls, spp: YoloSPP) -> SPPF:
        """An SPPF computing exactly what `spp` computes: same weights (copied), device, dtype, mode."""
        k = spp.kernel_sizes[0]
        sppf = cls(spp.in_channels, spp.out_channels, k, spp.first_level)
        if spp.kernel_sizes != sppf.equivalent_kernel_sizes:
            raise ValueError(f"SPP{spp.kernel_sizes} has no SPPF equivalent; "
                             f"SPPF(k={k}) equals SPP{sppf.equivalent_kernel_sizes}")
        sppf.load_state_dict(spp.state_dict())
        return sppf.to(next(spp.parameters())).train(spp.training)


SPECS = (
    NeckSpec("yolo_spp", "YOLO SPP", YoloSPP, "Jocher et al., YOLOv5 (2020), after He et al. 2014",
             "ultralytics/yolov5 models/common.py SPP", dict(in_channels=1024, out_channels=1024), 2_624_512,
             tab="SPP", order=11, controls=(Control("kernel_sizes", "max_pool_kernels_odd", "ints", (5, 9, 13),
                                                    minimum=1, maximum=31),)),
    NeckSpec("sppf", "YOLO SPPF", SPPF, "Jocher et al., YOLOv5 (2020)",
             "ultralytics/yolov5 models/common.py SPPF", dict(in_channels=1024, out_channels=1024), 2_624_512,
             tab="SPP", order=12,
             controls=(Control("kernel_size", "max_pool_kernel", "choice", 5, choices=(3, 5, 7, 9)),)),
)
