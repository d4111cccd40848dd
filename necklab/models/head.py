"""The heads the necks are trained with: one small dense detection head (FCOS-style) shared by every
level a neck outputs, and a DeepLab-style segmentation head for ASPP.

Detection (Tian et al., FCOS, ICCV 2019, simplified to train in minutes on 2 cores): every cell of
every output level predicts, from the same shared layers, a class heatmap (sigmoid per class), the
distances from its centre to the four sides of a box (in px, exp of a per-level scaled output ×
the level's stride) and a centre-ness. Which level answers which object is *taught* by the size-to-
level rule in `assign_level`: a level of stride s answers the objects whose size √(w·h) lies in
[2s, 4s) — so a small object is the stride-8 level's, a large one the stride-32 level's.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.models.backbone import LEVEL_END_STAGE, STAGES
from necklab.models.layers import Neck

CLASS_NAMES = ("animal", "food", "vehicle", "person")  # what the heads answer (the scenes' classes, in order)
WIDTH = 64  # channels of the shared layers
PRIOR = 0.01  # class logits start at this probability (RetinaNet), so the many empty cells do not swamp the loss
SIZE_PER_STRIDE = (2.0, 4.0)  # a level of stride s answers objects of size √(w·h) in [2s, 4s)
MAX_LOG_DISTANCE = 8.0  # distances are exp(·)×stride: clamp so a wild output cannot overflow


def assign_level(size: float, levels: Sequence[int]) -> int:
    """The level (log2 of its stride) that answers an object of size √(w·h) px, among a neck's
    output `levels`: the one with size/stride in [2, 4); smaller objects go to the finest level,
    larger ones to the coarsest."""
    wanted = math.floor(math.log2(max(size, 1.0) / SIZE_PER_STRIDE[0]))
    return min(max(wanted, min(levels)), max(levels))


class DetectionHead(nn.Module):
    """Per level: a 1×1 conv to WIDTH where the level has other channels (ASFF's levels keep the
    backbone's), then shared layers — a depthwise-separable 3×3 conv + GroupNorm + ReLU, and 3×3
    predictors of the class logits and of box distances + centre-ness — and a learnt scale per level
    for the distances. Light on purpose: what the levels answer is the neck's work, and FCOS's four
    full 3×3 convs would cost 8× more on 2 cores."""

    def __init__(self, in_channels: Sequence[int], levels: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.in_channels = list(in_channels)
        self.levels = list(levels)
        self.num_classes = num_classes
        self.adapters = nn.ModuleList(
            nn.Identity() if c == WIDTH else nn.Conv2d(c, WIDTH, 1) for c in self.in_channels)
        self.tower = nn.Sequential(nn.Conv2d(WIDTH, WIDTH, 3, padding=1, groups=WIDTH), nn.Conv2d(WIDTH, WIDTH, 1),
                                   nn.GroupNorm(8, WIDTH), nn.ReLU())
        self.classes = nn.Conv2d(WIDTH, num_classes, 3, padding=1)
        self.boxes = nn.Conv2d(WIDTH, 5, 3, padding=1)  # l, t, r, b and centre-ness
        self.scales = nn.Parameter(torch.ones(len(self.levels)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        nn.init.constant_(cast(Tensor, self.classes.bias), -math.log((1 - PRIOR) / PRIOR))

    def forward(self, features: Sequence[Tensor]) -> list[LevelOutput]:
        outputs = []
        for k, (x, adapter) in enumerate(zip(features, self.adapters, strict=True)):
            shared = self.tower(adapter(x))
            box = self.boxes(shared)
            stride = 2.0 ** self.levels[k]
            distances = torch.exp((box[:, :4] * self.scales[k]).clamp(max=MAX_LOG_DISTANCE)) * stride
            outputs.append(LevelOutput(self.levels[k], self.classes(shared), distances, box[:, 4]))
        return outputs


@dataclass
class LevelOutput:
    """What the head says at one level, for a batch: class logits B×K×H×W, distances to the box
    sides B×4×H×W (px of the picture the cells were computed on) and centre-ness logits B×H×W."""

    level: int
    logits: Tensor
    distances: Tensor
    centreness: Tensor

    def scores(self) -> Tensor:
        """Per-class detection scores B×K×H×W: √(class probability × centre-ness), FCOS's ranking."""
        return torch.sqrt(torch.sigmoid(self.logits) * torch.sigmoid(self.centreness).unsqueeze(1))


def cell_centres(height: int, width: int, picture_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Centres (y, x) in picture pixels of a height×width map's cells, spread evenly over the
    picture (a map of 3 cells on 320 px has cells 106.7 px apart): H×W each."""
    ys = (torch.arange(height, dtype=torch.float32) + 0.5) * (picture_hw[0] / height)
    xs = (torch.arange(width, dtype=torch.float32) + 0.5) * (picture_hw[1] / width)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_y, grid_x


@dataclass
class Detections:
    """Boxes found on one picture, best first: x0 y0 x1 y1 (px), score, class, and the level (log2
    stride) whose cell produced each."""

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    levels: Tensor

    def __len__(self) -> int:
        return len(self.scores)


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of every box in `a` (N×4) with every box in `b` (M×4), x0 y0 x1 y1."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.max(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-9)


def nms(boxes: Tensor, scores: Tensor, iou: float, keep: int) -> Tensor:
    """Indices of the (at most `keep`) boxes greedy non-maximum suppression keeps, best first."""
    order = scores.argsort(descending=True)
    overlaps = (box_iou(boxes[order], boxes[order]) > iou).numpy()
    kept: list[int] = []
    suppressed = np.zeros(len(order), dtype=bool)
    for i in range(len(order)):
        if suppressed[i]:
            continue
        kept.append(i)
        if len(kept) == keep:
            break
        suppressed |= overlaps[i]
    return order[torch.tensor(kept, dtype=torch.long)]


def decode(outputs: Sequence[LevelOutput], picture_hw: tuple[int, int], index: int = 0,
           threshold: float = 0.05, per_level: int = 100, iou: float = 0.6, keep: int = 100) -> Detections:
    """The boxes of picture `index` of the batch: cells above `threshold`, the best `per_level` of
    each level, class-wise NMS at `iou`, the best `keep`."""
    boxes, scores, labels, levels = [], [], [], []
    for out in outputs:
        score = out.scores()[index]  # K×H×W
        k, h, w = score.shape
        flat = score.reshape(-1)
        top = flat.topk(min(per_level, flat.numel())).indices
        top = top[flat[top] > threshold]
        label, cell = top // (h * w), top % (h * w)
        cy, cx = cell_centres(h, w, picture_hw)
        cy, cx = cy.reshape(-1)[cell], cx.reshape(-1)[cell]
        d = out.distances[index].reshape(4, -1)[:, cell]
        box = torch.stack([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], dim=1)
        box[:, 0::2] = box[:, 0::2].clamp(0, picture_hw[1])
        box[:, 1::2] = box[:, 1::2].clamp(0, picture_hw[0])
        boxes.append(box)
        scores.append(flat[top])
        labels.append(label)
        levels.append(torch.full_like(label, out.level))
    box, score, label, level = (torch.cat(x) for x in (boxes, scores, labels, levels))
    # class-wise NMS in one pass: boxes of different classes are moved apart so they never overlap
    offset = label[:, None].float() * (max(picture_hw) + 1)
    kept = nms(box + offset, score, iou, keep) if len(score) else score.new_zeros(0, dtype=torch.long)
    return Detections(box[kept], score[kept], label[kept], level[kept])


class SegmentationHead(nn.Module):
    """DeepLabV3's head after ASPP (torchvision `DeepLabHead`): 3×3 conv + BN + ReLU, then a 1×1 conv
    to the classes (background first); the logits are upsampled bilinearly to the picture."""

    def __init__(self, in_channels: int, num_classes: int, width: int = WIDTH) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                    nn.BatchNorm2d(width), nn.ReLU(), nn.Conv2d(width, num_classes, 1))

    def forward(self, x: Tensor, picture_hw: tuple[int, int]) -> Tensor:
        return F.interpolate(self.layers(x), size=picture_hw, mode="bilinear", align_corners=False)

    def probabilities(self, x: Tensor) -> Tensor:
        """Class probabilities at the input map's size (B×(1+K)×h×w), for views to upsample."""
        return torch.softmax(self.layers(x), dim=1)


def output_layout(neck: Neck) -> tuple[list[int], list[int]]:
    """Channels and levels (log2 stride) of a neck's outputs, from one forward on a small blank
    picture's shapes (an output's channels are not stated anywhere else for every neck)."""
    side = 64
    shapes = {"image": (3, side, side), **{f"C{lvl}": (STAGES[stage][4], side >> lvl, side >> lvl)
                                           for lvl, stage in LEVEL_END_STAGE.items()}}
    with torch.no_grad():
        outputs = neck([torch.zeros(1, *shapes[name]) for name in neck.input_names])
    levels = [neck.topology.node(name).level for name in neck.output_names]
    if any(level is None for level in levels):
        raise ValueError("a head needs outputs with a pyramid level")
    return [o.shape[1] for o in outputs], [int(level) for level in levels if level is not None]


class NeckWithHead(nn.Module):
    """A neck and the head it is trained with (state-dict keys `neck.…`, `head.…`): per-level
    detection for a pyramid or single-level neck, segmentation for ASPP."""

    def __init__(self, neck: Neck, task: str, num_classes: int) -> None:
        super().__init__()
        channels, levels = output_layout(neck)
        self.neck = neck
        self.task = task
        self.head: DetectionHead | SegmentationHead
        if task == "detect":
            self.head = DetectionHead(channels, levels, num_classes)
        elif task == "segment":
            self.head = SegmentationHead(channels[0], 1 + num_classes)  # background first
        else:
            raise ValueError(f"no head for task {task!r}")

    def forward(self, inputs: Sequence[Tensor], picture_hw: tuple[int, int]) -> list[LevelOutput] | Tensor:
        outputs: list[Tensor] = self.neck(list(inputs))
        if isinstance(self.head, SegmentationHead):
            return cast(Tensor, self.head(outputs[0], picture_hw))
        return cast(list[LevelOutput], self.head(outputs))

    def is_frozen(self, key: str) -> bool:
        """State-dict keys that training leaves as they are (a re-run backbone's)."""
        return key.startswith("neck.") and self.neck.is_frozen(key[len("neck."):])

    def trainable_state(self) -> dict[str, Tensor]:
        return {k: v for k, v in self.state_dict().items() if not self.is_frozen(k)}

    def train(self, mode: bool = True) -> NeckWithHead:
        super().train(mode)
        for name, module in self.neck.named_modules():
            if name and self.neck.is_frozen(name + "."):
                module.eval()  # a frozen backbone copy keeps its BN statistics
        return self
