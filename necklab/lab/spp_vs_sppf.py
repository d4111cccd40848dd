"""SPPF is SPP, only faster: YOLOv5's SPP and the SPPF built from its weights, run on one real map.

Reports both blocks' pooled maps, their (zero) differences and the speed of each.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from necklab.graph.trace import tracing
from necklab.models.necks.yolo_spp import SPPF, YoloSPP
from necklab.models.registry import build_neck


@dataclass(frozen=True)
class SppComparison:
    """SPP and the SPPF built from it, run on one map: their pooled maps, differences and speed."""

    kernel_sizes: tuple[int, ...]  # SPP's parallel kernels (5, 9, 13)
    chain_kernel: int  # SPPF's kernel, applied 1, 2, 3 times (5)
    spp_maps: dict[str, Tensor]  # SPP's pooled maps by node id, 1×C/2×H×W on the CPU
    sppf_maps: dict[str, Tensor]  # SPPF's chained pooled maps by node id, in chain order
    pooled_max_diff: tuple[float, ...]  # max |SPP pool − SPPF pool| per pair (k vs k, 2k−1 vs k∘k, …)
    output_max_diff: float  # max |SPP output − SPPF output|
    spp_seconds: float  # median of the untraced forwards
    sppf_seconds: float


@lru_cache(maxsize=8)
def _spp_pair(channels: int, seed: int, device: str) -> tuple[YoloSPP, SPPF]:
    # Built as the registry builds the yolo_spp neck, so the lesson's weights are the app's.

    spp = build_neck("yolo_spp", seed=seed, in_channels=channels, out_channels=channels).to(device)
    if not isinstance(spp, YoloSPP):
        raise TypeError(f"the registry's yolo_spp builds a {type(spp).__name__}, not a YoloSPP")
    return spp, SPPF.from_spp(spp)


def _median_seconds(model: YoloSPP | SPPF, x: Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model([x])
        if x.is_cuda:
            torch.cuda.synchronize(x.device)  # time the GPU work, not just its launch
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_spp_sppf(feature: Tensor, seed: int = 0, repeats: int = 5) -> SppComparison:
    """Run YOLOv5 SPP (in = out = C channels, seeded) and the SPPF with its weights on a 1×C×H×W map.

    Each model runs once traced (its pooled maps; also the warm-up) and `repeats` times untraced for
    the timing. The models are cached per (C, seed, device), so a repeated lesson does not rebuild.
    """
    if feature.dim() != 4 or feature.shape[0] != 1:
        raise ValueError(f"expected one 1×C×H×W map, got shape {tuple(feature.shape)}")
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    spp, sppf = _spp_pair(feature.shape[1], seed, str(feature.device))
    x = feature.to(next(spp.parameters()).dtype)
    with torch.inference_mode():
        with tracing() as spp_trace:
            spp_out = spp([x])[0]
        with tracing() as sppf_trace:
            sppf_out = sppf([x])[0]
        spp_seconds = _median_seconds(spp, x, repeats)
        sppf_seconds = _median_seconds(sppf, x, repeats)
    spp_maps = {pid: spp_trace[pid].cpu() for pid, _, _ in spp.pools}
    sppf_maps = {pid: sppf_trace[pid].cpu() for pid, _, _ in sppf.pools}
    pooled = tuple(float((a - b).abs().max()) for a, b in zip(spp_maps.values(), sppf_maps.values()))
    return SppComparison(spp.kernel_sizes, sppf.kernel_size, spp_maps, sppf_maps, pooled,
                         float((spp_out - sppf_out).abs().max()), spp_seconds, sppf_seconds)
