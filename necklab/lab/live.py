"""Live camera: one camera frame → the chosen neck's output maps, fast enough to follow a webcam.

A frame is scaled so that its longer side is LIVE_SIDE px, run through the cached backbone and the
cached neck at its tab's configuration (`backbone_on`, `neck_on`: the models the tabs use), on the
device asked for. Every output level of the neck gives one H×W map: the mean over its channels, or
its strongest channel. Nothing is kept from one frame to the next: the maps are a pure function of
the frame, the neck and the kind of map (the timings aside).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from necklab.graph.trace import tracing
from necklab.lab.analysis import backbone_on, neck_on
from necklab.lab.compare import tab_config
from necklab.models.backbone import normalise
from necklab.models.registry import NECKS

LIVE_SIDE = 320  # the frame's longer side as the backbone sees it
MIN_SIDE = 32  # a shorter side is never made smaller than this (C5 keeps at least one cell)
KINDS = ("mean", "top")  # mean over channels; the channel with the most energy on this frame


@dataclass(frozen=True, eq=False)  # holds an array: compare `values` yourself
class LevelMap:
    """One output level of the neck on one frame, reduced to an H×W map."""

    node: str  # the node's id in the neck's topology
    level: int | None  # log2 of its stride (P3: 3), None when the topology gives none
    channels: int  # channels of the level (C of C×H×W)
    values: np.ndarray  # H×W float32
    channel: int | None = None  # for the "top" kind: which channel is shown

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, int(self.values.shape[0]), int(self.values.shape[1]))


@dataclass(frozen=True, eq=False)
class LiveMaps:
    """A frame's maps: one per output level of the neck, in the topology's output order."""

    neck: str
    kind: str
    size: tuple[int, int]  # the frame as analysed: (width, height)
    levels: tuple[LevelMap, ...]
    seconds: dict[str, float] = field(default_factory=dict)  # "backbone" and "neck"


def live_size(width: int, height: int, side: int = LIVE_SIDE) -> tuple[int, int]:
    """(width, height) with the longer side `side` px and the aspect kept (the shorter side at least
    MIN_SIDE)."""
    scale = side / max(width, height)
    return max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale))


def frame_tensor(frame: np.ndarray, side: int = LIVE_SIDE) -> Tensor:
    """An H×W×3 (or ×4, or grey H×W) uint8 frame as a 1×3×h×w tensor in [0, 1] at `live_size`."""
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] not in (3, 4) or min(frame.shape[:2]) < 1:
        raise ValueError(f"a frame is H×W×3 RGB, not {frame.shape}")
    picture = Image.fromarray(np.ascontiguousarray(frame[..., :3]).astype(np.uint8, copy=False))
    size = live_size(*picture.size, side=side)
    if size != picture.size:
        picture = picture.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    rgb = np.array(picture)  # writable: torch.from_numpy wants it
    return torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)  # so the timings cover the GPU's work, not just its launch


def _reduce(feature: Tensor, kind: str) -> tuple[np.ndarray, int | None]:
    """A 1×C×H×W map as H×W: the mean over channels, or the channel with the most energy."""
    x = feature[0].float()
    if kind == "mean":
        return x.mean(dim=0).cpu().numpy(), None
    channel = int(x.pow(2).sum(dim=(1, 2)).argmax())
    return x[channel].cpu().numpy(), channel


def frame_maps(frame: np.ndarray, neck_name: str, kind: str = "mean", device: str = "cpu") -> LiveMaps:
    """The neck's output maps on one frame (see the module's docstring). An output that is a vector
    (SPP-net's) is shown through the maps it is made of: the inputs of that node in the topology."""
    if neck_name not in NECKS:
        raise KeyError(f"unknown neck {neck_name!r}; choose from {', '.join(NECKS)}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind of map {kind!r}; choose from {', '.join(KINDS)}")
    x = normalise(frame_tensor(frame).to(device))
    backbone = backbone_on(device)
    neck = neck_on(neck_name, tab_config(NECKS[neck_name]), device)
    with torch.inference_mode():
        start = time.perf_counter()
        feats = backbone.forward_features(x)
        _synchronize(device)
        built = time.perf_counter()
        features = {"image": x, **{info.name: f for info, f in zip(backbone.feature_info, feats)}}
        with tracing() as trace:  # the trace keeps every node: a vector output's maps are among them
            outputs = neck([features[n] for n in neck.input_names])
        _synchronize(device)
        done = time.perf_counter()
        topology = neck.topology
        shown: list[tuple[str, Tensor]] = []
        for name, out in zip(topology.outputs, outputs):
            if out.dim() == 4:
                shown.append((name, out))
            else:
                shown += [(e.source, trace[e.source]) for e in topology.node(name).inputs
                          if trace[e.source].dim() == 4]
        levels = []
        for name, tensor in shown:
            values, channel = _reduce(tensor, kind)
            levels.append(LevelMap(name, topology.node(name).level, int(tensor.shape[1]),
                                   values.astype(np.float32, copy=False), channel))
    return LiveMaps(neck_name, kind, (int(x.shape[-1]), int(x.shape[-2])), tuple(levels),
                    {"backbone": built - start, "neck": done - built})
