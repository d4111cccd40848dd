"""What the detection head is taught at each cell, and the loss that teaches it (FCOS, simplified).

Targets of one picture at one level: every object the size-to-level rule (`assign_level`) gives
this level marks the cells whose centres lie inside its box and within CENTRE_RADIUS cells of its
centre (FCOS's centre sampling), and always the cell under its centre, so a small object has one.
A cell claimed by two objects takes the smaller. Cells inside a dropped object's box (mostly hidden)
are neither positive nor negative. Loss: sigmoid focal loss over classes per positive, GIoU of
the predicted box weighted by the target centre-ness, and binary cross-entropy of centre-ness.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from necklab.models.head import LevelOutput, assign_level, cell_centres

CENTRE_RADIUS = 1.5  # cells
BACKGROUND, IGNORED = -1, -2
FOCAL_ALPHA, FOCAL_GAMMA = 0.25, 2.0


@dataclass
class LevelTargets:
    """Per cell (H×W): the class to answer (BACKGROUND, IGNORED or a class index), and for positive
    cells the distances (px) from the cell centre to the object's left, top, right, bottom."""

    classes: Tensor
    distances: Tensor  # H×W×4


def level_targets(boxes: Tensor, labels: Tensor, ignore: Tensor, level: int, levels: Sequence[int],
                  map_hw: tuple[int, int], picture_hw: tuple[int, int]) -> LevelTargets:
    height, width = map_hw
    cy, cx = cell_centres(height, width, picture_hw)
    classes = torch.full((height, width), BACKGROUND, dtype=torch.long)
    distances = torch.zeros(height, width, 4)
    for box in ignore:
        inside = (cx >= box[0]) & (cx < box[2]) & (cy >= box[1]) & (cy < box[3])
        classes[inside] = IGNORED
    sizes = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).sqrt()
    mine = [i for i in range(len(boxes)) if assign_level(float(sizes[i]), levels) == level]
    if not mine:
        return LevelTargets(classes, distances)
    b = boxes[mine]  # G×4
    left, top = cx[..., None] - b[:, 0], cy[..., None] - b[:, 1]  # H×W×G
    right, bottom = b[:, 2] - cx[..., None], b[:, 3] - cy[..., None]
    centre_x, centre_y = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    cell_h, cell_w = picture_hw[0] / height, picture_hw[1] / width
    near = ((cx[..., None] - centre_x).abs() <= CENTRE_RADIUS * cell_w) & \
           ((cy[..., None] - centre_y).abs() <= CENTRE_RADIUS * cell_h)
    inside = (torch.stack([left, top, right, bottom]).min(dim=0).values > 0) & near
    under_centre = torch.zeros_like(inside)
    rows = (centre_y / cell_h).long().clamp(0, height - 1)
    cols = (centre_x / cell_w).long().clamp(0, width - 1)
    under_centre[rows, cols, torch.arange(len(mine))] = True
    claimed = inside | under_centre
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    cost = torch.where(claimed, area.expand_as(claimed), torch.full_like(claimed, float("inf"), dtype=area.dtype))
    best_cost, best = cost.min(dim=2)
    positive = best_cost.isfinite()
    classes[positive] = labels[mine][best[positive]]
    all_distances = torch.stack([left, top, right, bottom], dim=-1)  # H×W×G×4
    chosen = all_distances.gather(2, best[..., None, None].expand(height, width, 1, 4))[:, :, 0]
    distances[positive] = chosen[positive].clamp(min=0.5)  # the centre cell of a tiny object may sit on its edge
    return LevelTargets(classes, distances)


def centreness(distances: Tensor) -> Tensor:
    """FCOS's centre-ness of distances (…×4: l, t, r, b): √(min(l,r)/max(l,r) · min(t,b)/max(t,b))."""
    lr, tb = distances[..., 0::2], distances[..., 1::2]
    ratio = (lr.min(-1).values / lr.max(-1).values) * (tb.min(-1).values / tb.max(-1).values)
    return ratio.clamp(min=0).sqrt()


def giou_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """1 − generalised IoU of boxes given as distances (N×4) from the same cell centre."""
    p_area = (predicted[:, 0] + predicted[:, 2]) * (predicted[:, 1] + predicted[:, 3])
    t_area = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    inter = (torch.min(predicted[:, 0], target[:, 0]) + torch.min(predicted[:, 2], target[:, 2])) * \
            (torch.min(predicted[:, 1], target[:, 1]) + torch.min(predicted[:, 3], target[:, 3]))
    union = p_area + t_area - inter
    hull = (torch.max(predicted[:, 0], target[:, 0]) + torch.max(predicted[:, 2], target[:, 2])) * \
           (torch.max(predicted[:, 1], target[:, 1]) + torch.max(predicted[:, 3], target[:, 3]))
    iou = inter / union.clamp(min=1e-6)
    return 1 - (iou - (hull - union) / hull.clamp(min=1e-6))


def detection_loss(outputs: Sequence[LevelOutput], boxes: Sequence[Tensor], labels: Sequence[Tensor],
                   ignore: Sequence[Tensor], picture_hw: tuple[int, int]) -> dict[str, Tensor]:
    """The batch's losses: 'classes', 'boxes', 'centreness' (each normalised FCOS's way) and 'total'."""
    levels = [o.level for o in outputs]
    logits, predicted, centre_logits, classes, distances = [], [], [], [], []
    for out in outputs:
        batch, k, height, width = out.logits.shape
        targets = [level_targets(boxes[i], labels[i], ignore[i], out.level, levels, (height, width), picture_hw)
                   for i in range(batch)]
        logits.append(out.logits.permute(0, 2, 3, 1).reshape(-1, k))
        predicted.append(out.distances.permute(0, 2, 3, 1).reshape(-1, 4))
        centre_logits.append(out.centreness.reshape(-1))
        classes.append(torch.stack([t.classes for t in targets]).reshape(-1))
        distances.append(torch.stack([t.distances for t in targets]).reshape(-1, 4))
    logit, pred, centre, cls, dist = (torch.cat(x) for x in (logits, predicted, centre_logits, classes, distances))
    counted = cls != IGNORED
    positive = cls >= 0
    n_pos = max(int(positive.sum()), 1)
    one_hot = torch.zeros_like(logit)
    one_hot[positive, cls[positive]] = 1
    focal = _sigmoid_focal(logit[counted], one_hot[counted]).sum() / n_pos
    if positive.any():
        target_centre = centreness(dist[positive])
        box = (giou_loss(pred[positive], dist[positive]) * target_centre).sum() / target_centre.sum().clamp(min=1e-6)
        centre_loss = F.binary_cross_entropy_with_logits(centre[positive], target_centre, reduction="sum") / n_pos
    else:
        box = centre_loss = logit.sum() * 0
    return {"classes": focal, "boxes": box, "centreness": centre_loss, "total": focal + box + centre_loss}


def _sigmoid_focal(logits: Tensor, targets: Tensor) -> Tensor:
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha = FOCAL_ALPHA * targets + (1 - FOCAL_ALPHA) * (1 - targets)
    return alpha * ce * (1 - p_t) ** FOCAL_GAMMA


def segmentation_loss(logits: Tensor, masks: Tensor) -> dict[str, Tensor]:
    """Cross-entropy per pixel, the ignored pixels (255) left out."""
    loss = F.cross_entropy(logits, masks.long(), ignore_index=255)
    return {"total": loss}
