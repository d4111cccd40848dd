"""Theoretical receptive fields (Araujo, Norris & Sim, Distill 2019), in input pixels.

A receptive field along one axis is (size, jump, start): how many input pixels one cell sees, how
far apart neighbouring cells' fields are (the accumulated stride), and where the field of cell 0 is
centred (pixel-centre coordinates, so pixel i spans [i − ½, i + ½]). Each layer maps these forward:

    size'  = size + (k_eff − 1)·jump          k_eff = (k − 1)·dilation + 1
    start' = start + ((k_eff − 1)/2 − pad_before)·jump
    jump'  = jump · stride

Nearest upsampling by f copies each cell f times: size stays, jump shrinks by f, and the centre of
the copies is the source centre. Global pooling sees the whole picture (size = ∞).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """One spatial operation on an edge of a neck graph or in the backbone."""

    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    pad: int | None = None  # padding before the first cell; None → centred ((k_eff − 1) // 2)
    same: bool = False  # TF "SAME" padding, computed from the input size
    upsample: int = 1  # nearest upsampling factor (kernel and stride unused)
    global_pool: bool = False  # sees every input pixel

    @property
    def effective_kernel(self) -> int:
        return (self.kernel - 1) * self.dilation + 1


def conv(kernel: int, stride: int = 1, dilation: int = 1, pad: int | None = None) -> Layer:
    return Layer(kernel, stride, dilation, pad)


def up(factor: int) -> Layer:
    return Layer(upsample=factor)


GLOBAL = Layer(global_pool=True)


@dataclass(frozen=True)
class RF:
    size: float  # input pixels seen by one cell (math.inf for global context)
    jump: float  # input pixels between neighbouring cells
    start: float  # centre of cell 0's field, in input pixel coordinates

    def centre(self, index: float) -> float:
        return self.start + index * self.jump


PIXELS = RF(1.0, 1.0, 0.0)


def _same_pad_before(size: int, layer: Layer) -> int:
    out = math.ceil(size / layer.stride)
    return max((out - 1) * layer.stride + layer.effective_kernel - size, 0) // 2


def apply(rf: RF, layer: Layer, size: int | None = None) -> RF:
    """The receptive field after `layer`. SAME pads are exact with `size` (cells along this axis);
    without it they are taken as centred, which is off by at most half a cell."""
    if layer.global_pool:
        return RF(math.inf, rf.jump, rf.start)
    if layer.upsample > 1:
        f = layer.upsample
        return RF(rf.size, rf.jump / f, rf.start - rf.jump * (f - 1) / (2 * f))
    eff = layer.effective_kernel
    if layer.same and size is not None:
        pad = _same_pad_before(size, layer)
    else:
        pad = (eff - 1) // 2 if layer.pad is None else layer.pad
    return RF(rf.size + (eff - 1) * rf.jump, rf.jump * layer.stride,
              rf.start + ((eff - 1) / 2 - pad) * rf.jump)


def through(layers: Iterable[Layer], rf: RF = PIXELS, size: int | None = None) -> RF:
    """Apply layers in order. With `size` (input cells along the axis), SAME pads are exact."""
    for layer in layers:
        rf = apply(rf, layer, size)
        if size is not None and not layer.global_pool:
            size = size * layer.upsample if layer.upsample > 1 else math.ceil(size / layer.stride)
    return rf


@dataclass(frozen=True)
class PathRF:
    """The receptive field of a node through one path of the graph (node ids, input first)."""

    rf: RF
    path: tuple[str, ...]


def _key(rf: RF) -> tuple[float, float, float]:
    return (rf.size, round(rf.jump, 6), round(rf.start, 6))


def node_receptive_fields(
    order: Sequence[str],
    edges: Mapping[str, Sequence[tuple[str, Sequence[Layer]]]],
    base: Mapping[str, RF],
) -> dict[str, list[PathRF]]:
    """Receptive fields of every node through every distinct path.

    `order` lists node ids in execution order; `edges[node]` gives (input id, layers on that edge);
    `base` gives the receptive fields of the graph's input nodes. Paths that arrive with the same
    field are merged (the first one is kept as the example), which keeps deep stacks tractable:
    NAS-FPN's seven stages have astronomically many paths but about 1,600 distinct fields per
    output (half a second here).
    """
    result: dict[str, list[PathRF]] = {}
    for node in order:
        if node in base:
            result[node] = [PathRF(base[node], (node,))]
            continue
        seen: dict[tuple[float, float, float], PathRF] = {}
        for source, layers in edges[node]:
            for incoming in result[source]:
                rf = through(layers, incoming.rf)
                seen.setdefault(_key(rf), PathRF(rf, incoming.path + (node,)))
        result[node] = sorted(seen.values(), key=lambda p: (p.rf.size, -len(p.path)))
    return result
