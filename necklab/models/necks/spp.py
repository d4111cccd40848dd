"""SPP-net's spatial pyramid pooling (He et al. 2014): any map size in, one fixed-length vector out.

For every pyramid level n the map is pooled into n×n bins and each bin keeps one number per channel
(its max, or its mean); the bins are flattened level by level and concatenated, so the vector has
C·Σn² entries whatever the map's height and width. The bins are PyTorch's adaptive ones: bin i of an
axis of length a covers cells [⌊i·a/n⌋, ⌈(i+1)·a/n⌉), so there are always n of them, neighbouring
bins overlap when n does not divide a, and a map smaller than n repeats its cells (a 1×1 map gives
n×n copies of the same cell). No parameters.

The lesson around it: the fixed-window recipe often copied from blog posts (window = stride = ⌈a/n⌉,
padding ⌊(window·n − a + 1)/2⌋) is rejected by PyTorch for some sizes, and the paper's own recipe
(window ⌈a/n⌉, stride ⌊a/n⌋, no padding) has stride 0 below n and the wrong bin count for some sizes.
`blog_formula` and `paper_formula` run both on a real pooling call and report what happens.

Receptive fields: one bin of level 1 sees the whole map (global pooling); the bins of finer levels
see ⌈a/n⌉-ish cells, which depends on the map size, so those edges carry no fixed layers — the
`bins` extras give each bin's exact cell ranges instead.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from necklab.graph.receptive_field import GLOBAL
from necklab.graph.topology import Edge, Move, Node, Note, Op, Step, Topology, input_nodes
from necklab.graph.trace import record, recording
from necklab.models.layers import Neck
from necklab.models.refusal import ConfigError
from necklab.models.spec import Control, NeckSpec

POOLS = ("max", "avg")

Bins = tuple[tuple[int, int], ...]


def adaptive_bins(size: int, n: int) -> Bins:
    """The (start, end) cell range of each of the n bins adaptive pooling makes on an axis of `size`
    cells: start = ⌊i·size/n⌋, end = ⌈(i+1)·size/n⌉ (integer arithmetic, as PyTorch's kernels do)."""
    if size < 1 or n < 1:
        raise ValueError(f"size and n must be positive, got size={size}, n={n}")
    return tuple((i * size // n, -(-(i + 1) * size // n)) for i in range(n))


@dataclass(frozen=True)
class WindowRule:
    """A fixed pooling window for one pyramid level, and what PyTorch makes of it on a size×size map."""

    size: int
    n: int  # bins wanted per axis
    window: int
    stride: int
    padding: int
    accepted: bool  # PyTorch ran the pooling
    error: str | None  # PyTorch's message when it refused
    bins: int | None  # bins per axis it produced (None when it raised)

    @property
    def correct(self) -> bool:
        return self.bins == self.n


def _try_window(size: int, n: int, window: int, stride: int, padding: int) -> WindowRule:
    # Run the real call rather than re-deriving PyTorch's checks: the message shown is PyTorch's own.
    try:
        bins = F.max_pool2d(torch.zeros(1, 1, size, size), window, stride, padding).shape[-1]
    except RuntimeError as exc:
        return WindowRule(size, n, window, stride, padding, False, str(exc), None)
    return WindowRule(size, n, window, stride, padding, True, None, bins)


def blog_formula(size: int, n: int) -> WindowRule:
    """window = stride = ⌈a/n⌉, padding = ⌊(window·n − a + 1)/2⌋ — the common blog implementation.
    PyTorch refuses it when the padding exceeds half the window (a ∈ {1,2,3,5,9} for levels 1–4)."""
    window = math.ceil(size / n)
    return _try_window(size, n, window, window, (window * n - size + 1) // 2)


def paper_formula(size: int, n: int) -> WindowRule:
    """The SPP-net paper's window ⌈a/n⌉ with stride ⌊a/n⌋ and no padding: stride 0 when a < n, and
    too many bins for some sizes (a = 5 at n = 3; a = 6, 7, 11 at n = 4)."""
    return _try_window(size, n, math.ceil(size / n), size // n, 0)


class SPPNet(Neck):
    """Spatial pyramid pooling of one map (the C5 features) into a C·Σn² vector.

    Trace: C5, then `bins{n}` per level (N, C, n, n) with extras `bins` = (row ranges, column
    ranges) from `adaptive_bins` and, for max pooling, `argmax` = flat indices into image 0's H×W
    map, shape (C, n, n); then `vector` (N, C·Σn²), level by level, channel-major within a level.
    """

    def __init__(
        self,
        in_channels: int = 320,
        levels: Sequence[int] = (1, 2, 4),
        pool: str = "max",
        first_level: int = 5,
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ConfigError("choice", setting="pool", choices=", ".join(POOLS))
        if not levels or any(n < 1 for n in levels) or len(set(levels)) != len(levels):
            raise ConfigError("distinct_levels", levels=", ".join(map(str, levels)))
        self.in_channels = in_channels
        self.levels = tuple(levels)
        self.pool = pool
        self.first_level = first_level
        self.topology = self._topology()

    @property
    def out_length(self) -> int:
        return self.in_channels * sum(n * n for n in self.levels)

    # --- structure --------------------------------------------------------------------------
    def _input_name(self) -> str:
        return f"C{self.first_level}"

    @staticmethod
    def bins_id(n: int) -> str:
        return f"bins{n}"

    def _topology(self) -> Topology:
        source = self._input_name()
        nodes = input_nodes([source], [self.first_level])
        for n in self.levels:
            # One bin of level 1 covers the whole map; finer bins' extent depends on the map size.
            layers = (GLOBAL,) if n == 1 else ()
            op = Op.ADAPTIVE_MAX_POOL if self.pool == "max" else Op.ADAPTIVE_AVG_POOL
            nodes.append(Node(self.bins_id(n), op, (Edge(source, (Step.adaptive_pool(self.pool, n),), layers),),
                              branch=f"{n}×{n}", note=Note.of(f"spp_{self.pool}", n=n)))
        nodes.append(Node("vector", Op.CONCAT,
                          tuple(Edge(self.bins_id(n), (Step(Move.FLATTEN_CONCAT),)) for n in self.levels),
                          note=Note.of("spp_vector", c=self.in_channels, bins=sum(n * n for n in self.levels),
                                       n=self.out_length)))
        return Topology("spp_net", tuple(nodes), ("vector",))

    # --- computation ------------------------------------------------------------------------
    def forward(self, feats: Sequence[Tensor]) -> list[Tensor]:
        if len(feats) != 1:
            raise ValueError(f"SPP-net pools one map, got {len(feats)}")
        x = feats[0]
        if x.shape[1] != self.in_channels:
            raise ValueError(f"expected {self.in_channels} channels, got {x.shape[1]}")
        record(self._input_name(), x)
        height, width = x.shape[-2:]
        flat = []
        for n in self.levels:
            extras: dict[str, object] = {}
            if recording():
                extras["bins"] = (adaptive_bins(height, n), adaptive_bins(width, n))
            if self.pool == "max":
                # Only the trace wants the winning positions; plain runs skip the index tensor.
                if recording():
                    pooled, argmax = F.adaptive_max_pool2d(x, n, return_indices=True)
                    extras["argmax"] = argmax[0]  # flat indices into image 0's H×W map, shape (C, n, n)
                else:
                    pooled = F.adaptive_max_pool2d(x, n)
            else:
                pooled = F.adaptive_avg_pool2d(x, n)
            flat.append(record(self.bins_id(n), pooled, **extras).flatten(1))
        return [record("vector", torch.cat(flat, dim=1))]


SPECS = (NeckSpec("spp", "SPP-net", SPPNet,
                  "He et al., Spatial Pyramid Pooling in Deep Convolutional Networks, ECCV 2014",
                  "paper", dict(in_channels=256, levels=(1, 2, 4)), 0, tab="SPP", order=10, task="",
                  controls=(Control("levels", "pyramid_levels_nxn_bins", "ints", (1, 2, 4), minimum=1, maximum=16),
                            Control("pool", "pooling", "choice", "max", choices=("max", "avg")))),)
