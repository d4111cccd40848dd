"""Training a neck and its head on the scenes' cached backbone features, and evaluating it.

Seeded end to end: the scenes, the neck's and head's initialisation, the batches. A run is bounded
by its steps and, when given, a deadline or a cancel flag (the app's "Train this design"): it stops
between steps and says why.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from necklab.models.head import Detections, NeckWithHead, decode
from necklab.models.layers import Neck, seeded
from necklab.models.registry import NECKS, build_neck
from necklab.train.cutouts import CLASSES
from necklab.train.detect import detection_loss, segmentation_loss
from necklab.train.evaluate import coco_ap, mean_iou
from necklab.train.features import Progress, SceneFeatures

NUM_CLASSES = len(CLASSES)


@dataclass(frozen=True)
class Plan:
    """How long and how a model trains: steps of `batch` scenes, AdamW with a linear warm-up and a
    cosine decay of the learning rate, gradients clipped."""

    steps: int
    batch: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: int = 20
    clip: float = 10.0
    seed: int = 0


@dataclass
class Run:
    """What a training run did: its loss per step, the seconds it took, and why it stopped
    ('steps' done, 'time' up, 'cancelled')."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    stopped: str = "steps"


def with_head(neck: Neck, task: str, seed: int = 0) -> NeckWithHead:
    """`neck` with a freshly initialised head for `task` (reproducible by `seed`)."""
    return seeded(NeckWithHead, seed, neck=neck, task=task, num_classes=NUM_CLASSES)


def fresh_model(name: str, config: Mapping[str, Any], seed: int = 0) -> NeckWithHead:
    """Registry neck `name` at `config`, and its head, at their seeded fresh initialisation."""
    return with_head(build_neck(name, seed, **config), NECKS[name].task, seed)


def losses_of(model: NeckWithHead, data: SceneFeatures, index: Tensor) -> dict[str, Tensor]:
    inputs = data.inputs(model.neck.input_names, index)
    out = model(inputs, data.picture_hw)
    if model.task == "segment":
        assert isinstance(out, Tensor)
        return segmentation_loss(out, data.masks[index])
    assert isinstance(out, list)
    return detection_loss(out, [data.boxes[i] for i in index.tolist()], [data.labels[i] for i in index.tolist()],
                          [data.ignore[i] for i in index.tolist()], data.picture_hw)


@dataclass
class Stepping:
    """Where a run stands between calls of `fit`, so that it can train in slices (the app's "Train
    this design" gives the worker back between them): its optimiser with its moments, the seeded
    batch order, and the next step."""

    optimiser: torch.optim.Optimizer
    generator: torch.Generator
    order: Tensor
    cursor: int = 0
    step: int = 0


def trainable_parameters(model: NeckWithHead) -> list[torch.nn.Parameter]:
    return [p for name, p in model.named_parameters() if not model.is_frozen(name)]


def stepping(model: NeckWithHead, data: SceneFeatures, plan: Plan) -> Stepping:
    """A run of `plan` at its first step: a fresh optimiser and the first seeded batch order."""
    optimiser = torch.optim.AdamW(trainable_parameters(model), lr=plan.lr, weight_decay=plan.weight_decay)
    generator = torch.Generator().manual_seed(plan.seed)
    return Stepping(optimiser, generator, torch.randperm(len(data), generator=generator))


def fit(model: NeckWithHead, data: SceneFeatures, plan: Plan, progress: Progress | None = None,
        deadline: float | None = None, cancelled: Callable[[], bool] | None = None,
        state: Stepping | None = None) -> Run:
    """Train `model` (its frozen parts excepted) on `data` until `plan.steps` steps are done, or until
    the `deadline` (time.monotonic()) or `cancelled()`. Leaves it in eval mode. With `state` (from
    `stepping`), the run goes on where the last call left it and `state` moves on; the Run holds
    this call's losses only."""
    params = trainable_parameters(model)
    frozen = [p for name, p in model.named_parameters() if model.is_frozen(name)]
    for p in frozen:
        p.requires_grad_(False)
    state = stepping(model, data, plan) if state is None else state
    optimiser = state.optimiser
    run, start = Run(), time.monotonic()
    model.train()
    try:
        while state.step < plan.steps:
            if cancelled is not None and cancelled():
                run.stopped = "cancelled"
                break
            if deadline is not None and time.monotonic() >= deadline:
                run.stopped = "time"
                break
            if state.cursor + plan.batch > len(state.order):
                state.order, state.cursor = torch.randperm(len(data), generator=state.generator), 0
            index = state.order[state.cursor:state.cursor + plan.batch]
            state.cursor += plan.batch
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(plan, state.step)
            loss = losses_of(model, data, index)["total"]
            optimiser.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            torch.nn.utils.clip_grad_norm_(params, plan.clip)
            optimiser.step()
            state.step += 1
            run.losses.append(float(loss.detach()))
            if progress is not None:
                progress(state.step / plan.steps, f"step {state.step}/{plan.steps} · loss {run.losses[-1]:.3f}")
    finally:
        model.eval()
        for p in frozen:
            p.requires_grad_(True)
    run.seconds = time.monotonic() - start
    return run


def learning_rate(plan: Plan, step: int) -> float:
    if step < plan.warmup:
        return plan.lr * (step + 1) / plan.warmup
    done = (step - plan.warmup) / max(plan.steps - plan.warmup, 1)
    return plan.lr * 0.5 * (1 + math.cos(math.pi * done))


def predict(model: NeckWithHead, data: SceneFeatures, batch: int = 16) -> list[Detections] | Tensor:
    """Detections per scene, or the predicted label map of every scene (N×H×W) for segmentation."""
    found: list[Detections] = []
    masks: list[Tensor] = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(data), batch):
            index = torch.arange(start, min(start + batch, len(data)))
            out = model(data.inputs(model.neck.input_names, index), data.picture_hw)
            if isinstance(out, Tensor):
                masks.append(out.argmax(1).to(torch.uint8))
            else:
                found += [decode(out, data.picture_hw, i) for i in range(len(index))]
    return torch.cat(masks) if masks else found


def evaluate(model: NeckWithHead, data: SceneFeatures) -> dict[str, float]:
    """Held-out metrics of `model`: COCO AP (AP, AP50, AP75, AP_S, AP_M, AP_L) or mIoU, in %."""
    predicted = predict(model, data)
    if isinstance(predicted, Tensor):
        return mean_iou(predicted, data.masks, 1 + NUM_CLASSES)
    return coco_ap(predicted, data.boxes, data.labels, data.ignore, NUM_CLASSES)

