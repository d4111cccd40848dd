"""The frozen backbone's features of a scene set, computed once and kept on disk.

Training a neck on 2 cores is affordable because the backbone never trains: its C2…C5 of every
scene are computed once (fp16), with the scene's picture and labels, and saved under the cache
folder by the set's key; every neck's training then reads them.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from necklab.models.backbone import build_backbone, normalise
from necklab.train.scenes import SceneSet

LEVELS = ("C2", "C3", "C4", "C5")  # what the necks read (C1 is read by none)
CACHE_ENV = "NECKLAB_CACHE"
BATCH = 16
Progress = Callable[[float, str], object]


def cache_folder() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "necklab")


@dataclass
class SceneFeatures:
    """A scene set as training reads it: pictures (N×3×H×W uint8), backbone levels (N×C×h×w fp16),
    and per scene its boxes, labels, ignored boxes and class mask."""

    images: Tensor
    levels: dict[str, Tensor]
    boxes: list[Tensor]
    labels: list[Tensor]
    ignore: list[Tensor]
    masks: Tensor  # N×H×W uint8: 0 background, 1 + class, 255 ignored

    def __len__(self) -> int:
        return len(self.images)

    def inputs(self, names: list[str], index: Tensor) -> list[Tensor]:
        """A neck's inputs for the scenes at `index`: its levels as float32, 'image' normalised."""
        return [normalise(self.images[index].float() / 255) if name == "image" else self.levels[name][index].float()
                for name in names]

    @property
    def picture_hw(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])



def compute(scenes: SceneSet, progress: Progress | None = None) -> SceneFeatures:
    """Make every scene and run the backbone on it, in batches (CPU)."""
    backbone = build_backbone()
    images, boxes, labels, ignore, masks = [], [], [], [], []
    levels: dict[str, list[Tensor]] = {name: [] for name in LEVELS}
    for start in range(0, len(scenes), BATCH):
        batch = [scenes[i] for i in range(start, min(start + BATCH, len(scenes)))]
        pictures = torch.from_numpy(np.stack([s.image for s in batch])).permute(0, 3, 1, 2).contiguous()
        with torch.inference_mode():
            feats = backbone.forward_features(normalise(pictures.float() / 255))
        for info, f in zip(backbone.feature_info, feats, strict=True):
            if info.name in levels:
                levels[info.name].append(f.half())
        images.append(pictures)
        masks.append(torch.from_numpy(np.stack([s.mask for s in batch])))
        for s in batch:
            boxes.append(torch.from_numpy(s.boxes))
            labels.append(torch.from_numpy(s.labels))
            ignore.append(torch.from_numpy(s.ignore))
        if progress is not None:
            done = start + len(batch)
            progress(done / len(scenes), f"{scenes.split} scenes: backbone features {done}/{len(scenes)}")
    return SceneFeatures(torch.cat(images), {k: torch.cat(v) for k, v in levels.items()}, boxes, labels, ignore,
                         torch.cat(masks))


def scene_features(scenes: SceneSet, progress: Progress | None = None, folder: Path | None = None) -> SceneFeatures:
    """The features of `scenes`, from the cache folder when computed before, else computed and kept."""
    path = (folder or cache_folder()) / f"features-{scenes.name}.pt"
    if path.is_file():
        try:
            return SceneFeatures(**torch.load(path, weights_only=True))
        except Exception:  # a partial or older file: made again below
            path.unlink(missing_ok=True)
    made = compute(scenes, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    torch.save(vars(made), partial)
    partial.replace(path)  # whole or absent, never half-written
    return made
