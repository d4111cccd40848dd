"""Held-out metrics: COCO-style box AP by pycocotools, mean IoU for segmentation.

pycocotools is COCO's own evaluation code — the AP, AP50 and AP by size (small < 32², medium
< 96², large) every detection paper reports come from it; torchmetrics's mAP wraps it (or a
re-implementation) and would add a dependency for nothing. A dropped (mostly hidden) object is a
crowd region: a detection on it is neither right nor wrong.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from necklab.models.head import Detections

AP_KEYS = ("AP", "AP50", "AP75", "AP_S", "AP_M", "AP_L")  # the first six of COCOeval.stats, in its order


def coco_ap(detections: Sequence[Detections], boxes: Sequence[Tensor], labels: Sequence[Tensor],
            ignore: Sequence[Tensor], num_classes: int) -> dict[str, float]:
    """AP, AP50, AP75, AP_S, AP_M, AP_L (in %) of `detections` against the labels of the same pictures.
    A size with no object in the set scores −1, as COCOeval reports it."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations: list[dict[str, Any]] = []
    for image, (b, c, crowd) in enumerate(zip(boxes, labels, ignore, strict=True)):
        for box, label in zip(b.tolist(), c.tolist(), strict=True):
            annotations.append(_annotation(len(annotations) + 1, image, box, int(label), crowd=False))
        for box in crowd.tolist():
            for label in range(num_classes):  # a crowd region of every class: its class is unknown here
                annotations.append(_annotation(len(annotations) + 1, image, box, label, crowd=True))
    found = [{"image_id": image, "category_id": int(label), "score": float(score),
              "bbox": [x0, y0, x1 - x0, y1 - y0]}
             for image, d in enumerate(detections)
             for (x0, y0, x1, y1), score, label in zip(d.boxes.tolist(), d.scores.tolist(), d.labels.tolist(),
                                                       strict=True)]
    if not found:
        return dict.fromkeys(AP_KEYS, 0.0)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and table
        truth = COCO()
        truth.dataset = {"images": [{"id": i} for i in range(len(boxes))], "annotations": annotations,
                         "categories": [{"id": k} for k in range(num_classes)]}
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(found), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {key: round(float(value) * 100, 2) if value >= 0 else -1.0
            for key, value in zip(AP_KEYS, evaluation.stats[:6], strict=True)}


def _annotation(id_: int, image: int, box: list[float], label: int, crowd: bool) -> dict[str, Any]:
    x0, y0, x1, y1 = box
    return {"id": id_, "image_id": image, "category_id": label, "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": (x1 - x0) * (y1 - y0), "iscrowd": int(crowd)}


def mean_iou(predicted: Tensor, truth: Tensor, num_classes: int, ignored: int = 255) -> dict[str, float]:
    """Mean IoU (in %) over the classes (background included) of label maps, ignored pixels left out;
    with the IoU of each class."""
    keep = truth != ignored
    p, t = predicted[keep].long(), truth[keep].long()
    confusion = torch.bincount(t * num_classes + p, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    inter = confusion.diag().double()
    union = confusion.sum(0).double() + confusion.sum(1).double() - inter
    iou = np.where(union.numpy() > 0, (inter / union.clamp(min=1)).numpy(), np.nan)
    return {"mIoU": round(float(np.nanmean(iou)) * 100, 2),
            **{f"IoU_{k}": round(float(v) * 100, 2) for k, v in enumerate(iou) if not np.isnan(v)}}
