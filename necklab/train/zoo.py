"""Training every neck of the zoo at its tab's default configuration and shipping the weights.

For each neck with a task: build it fresh (seed 0) with its head, evaluate that on the held-out
scenes, train it for its planned steps, evaluate again, and write the trainable tensors as fp16 with
a manifest entry (configuration, task, data recipe, seed, steps, wall time, both evaluations, file
hash). Recursive-FPN starts from the trained FPN (its first pass *is* an FPN of the same
configuration), because a step of it reruns the backbone and costs ~3 FPN steps.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from necklab.models.head import NeckWithHead
from necklab.models.registry import NECKS
from necklab.models.weights import MANIFEST, WEIGHTS_DIR, plain, read_manifest, sha256
from necklab.train.cutouts import CLASSES, PACKAGE
from necklab.train.features import Progress, SceneFeatures, scene_features
from necklab.train.scenes import RECIPE, SceneSet
from necklab.train.trainer import Plan, evaluate, fit, fresh_model

TRAIN_SCENES, VAL_SCENES = 1600, 300
# Steps of 16 scenes per neck, sized so each trains in ≤ 5 min on the idle 2-core machine (a pyramid
# step there ≈ 1–2 s, an RFP step ≈ 3 FPN steps).
STEPS = {"yolo_spp": 250, "sppf": 250, "aspp": 200, "fpn": 300, "pafpn": 300, "nasfpn": 200, "bifpn": 300,
         "asff": 300, "rfp": 100}
DEFAULT_STEPS = 200
WARM_START = {"rfp": "fpn"}  # neck → the trained neck whose tensors of the same name it starts from


def trainable() -> list[str]:
    """The necks that have something to learn (SPP-net has no weights)."""
    return [name for name, spec in NECKS.items() if spec.task]


def default_config(name: str) -> dict[str, Any]:
    """A neck's configuration as its tab opens: its controls' defaults."""
    return NECKS[name].defaults


@dataclass
class Shipped:
    """One neck's manifest entry."""

    config: dict[str, Any]
    task: str
    file: str
    sha256: str
    bytes: int
    seed: int
    steps: int
    batch: int
    lr: float
    seconds: float
    final_loss: float
    metrics: dict[str, float]
    fresh_metrics: dict[str, float]
    warm_start: str | None
    data: dict[str, Any]  # the scenes it trained and was evaluated on


def train_one(name: str, train: SceneFeatures, val: SceneFeatures, plan: Plan, folder: Path,
              data: dict[str, Any], progress: Progress | None = None) -> Shipped:
    config = default_config(name)
    model = fresh_model(name, config, plan.seed)
    fresh_metrics = evaluate(model, val)
    warm = WARM_START.get(name)
    if warm is not None:
        _warm_start(model, folder / f"{warm}.pt")
    run = fit(model, train, plan, progress)
    metrics = evaluate(model, val)
    path = folder / f"{name}.pt"
    save_state(model, path)
    return Shipped(plain(config), NECKS[name].task, path.name, sha256(path), path.stat().st_size, plan.seed,
                   len(run.losses), plan.batch, plan.lr, round(run.seconds, 1),
                   round(sum(run.losses[-20:]) / max(len(run.losses[-20:]), 1), 4), metrics, fresh_metrics, warm, data)


def save_state(model: NeckWithHead, path: Path) -> None:
    """The model's trainable tensors, floating ones as fp16, written whole or not at all."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.trainable_state().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    torch.save(state, partial)
    partial.replace(path)


def _warm_start(model: NeckWithHead, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()
                           if k in own and own[k].shape == v.shape}, strict=False)


def train_zoo(names: Sequence[str] | None = None, folder: Path = WEIGHTS_DIR, train_scenes: int = TRAIN_SCENES,
              val_scenes: int = VAL_SCENES, steps: Mapping[str, int] | None = None, seed: int = 0,
              progress: Progress | None = None) -> dict[str, Any]:
    """Train `names` (default: every trainable neck, in registry order), write their weights and
    merge their entries into `folder`'s manifest, which this returns."""
    chosen = list(names or trainable())
    unknown = [n for n in chosen if n not in trainable()]
    if unknown:
        raise ValueError(f"no trainable neck named {', '.join(unknown)}; choose from {', '.join(trainable())}")
    train = scene_features(SceneSet("train", train_scenes, seed), progress)
    val = scene_features(SceneSet("val", val_scenes, seed), progress)
    necks = read_manifest(folder)
    data = {"recipe": RECIPE, "train_scenes": train_scenes, "val_scenes": val_scenes, "scene_seed": seed}
    started = time.monotonic()
    for name in chosen:
        plan = Plan(steps=(steps or STEPS).get(name, DEFAULT_STEPS), seed=seed)

        def report(share: float, text: str, name: str = name) -> None:
            if progress is not None:
                progress(share, f"{name}: {text}")

        necks[name] = asdict(train_one(name, train, val, plan, folder, data, report))
        write_manifest(folder, necks)
    return {"necks": necks, "seconds": round(time.monotonic() - started, 1)}


def write_manifest(folder: Path, necks: Mapping[str, Any]) -> None:
    manifest = {
        "format": 1,
        "classes": [c.name for c in CLASSES],
        "data": f"necklab.train.scenes (cut-outs from Debian's {PACKAGE}, public domain, on photo crops and "
                "procedural textures); train and val scenes use disjoint cut-outs",
        "metrics": "COCO AP by pycocotools on the val scenes (mIoU for segmentation), in %",
        "necks": dict(sorted(necks.items(), key=lambda item: list(NECKS).index(item[0]))),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
