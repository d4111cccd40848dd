"""The neck zoo: one entry per neck with its reference configuration and parameter count.

Adding an entry here makes the neck appear in the app and in the comparison.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .asff import ASFF
from .aspp import ASPP
from .bifpn import BiFPN
from .fpn import FPN
from .layers import RNG_LOCK, Neck
from .nasfpn import NASFPN
from .pafpn import PAFPN
from .rfp import RFP
from .spp import SPPNet
from .yolo_spp import SPPF, YoloSPP

STANDARD_FPN = dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)


@dataclass(frozen=True)
class Control:
    """A configuration argument a learner may change in the app: integer slider, choice, or a list
    of integers typed as text (e.g. atrous rates)."""

    arg: str
    label: str
    kind: str  # "int" | "choice" | "ints"
    default: Any
    choices: tuple[Any, ...] = ()
    labels: tuple[str, ...] = ()  # how the choices read in the app (default: the values themselves)
    minimum: int = 1
    maximum: int = 512
    step: int = 1


@dataclass(frozen=True)
class NeckSpec:
    name: str
    title: str
    build: Callable[..., Neck]
    paper: str
    reference_source: str
    reference_config: Mapping[str, Any]  # the standard configuration of REFERENCES.md
    reference_params: int  # parameters of that configuration in the reference implementation
    notes: str = ""
    tab: str = ""  # the app tab showing this neck (necks of one tab share it); default: its title
    controls: tuple[Control, ...] = ()

    @property
    def tab_title(self) -> str:
        return self.tab or self.title


OUT_CHANNELS = Control("out_channels", "output channels", "int", 64, minimum=16, maximum=256, step=16)
EXTRA_CONVS = Control("add_extra_convs", "extra levels from", "choice", False,
                      choices=(False, "on_input", "on_output"),
                      labels=("max-pool of the top output (no conv)", "3×3 s2 conv on C5", "3×3 s2 conv on the top output"))
NUM_OUTS = Control("num_outs", "output levels", "int", 5, minimum=4, maximum=6)


NECKS: dict[str, NeckSpec] = {spec.name: spec for spec in (
    NeckSpec("spp", "SPP-net", SPPNet, "He et al., Spatial Pyramid Pooling in Deep Convolutional Networks, ECCV 2014",
             "paper", dict(in_channels=256, levels=(1, 2, 4)), 0, tab="SPP",
             controls=(Control("levels", "pyramid levels (n×n bins)", "ints", (1, 2, 4), minimum=1, maximum=16),
                       Control("pool", "pooling", "choice", "max", choices=("max", "avg")))),
    NeckSpec("yolo_spp", "YOLO SPP", YoloSPP, "Jocher et al., YOLOv5 (2020), after He et al. 2014",
             "ultralytics/yolov5 models/common.py SPP", dict(in_channels=1024, out_channels=1024), 2_624_512,
             tab="SPP", controls=(Control("kernel_sizes", "max-pool kernels (odd)", "ints", (5, 9, 13),
                                          minimum=1, maximum=31),)),
    NeckSpec("sppf", "YOLO SPPF", SPPF, "Jocher et al., YOLOv5 (2020)",
             "ultralytics/yolov5 models/common.py SPPF", dict(in_channels=1024, out_channels=1024), 2_624_512,
             tab="SPP", controls=(Control("kernel_size", "max-pool kernel", "choice", 5, choices=(3, 5, 7, 9)),)),
    NeckSpec("aspp", "ASPP", ASPP, "Chen et al., Rethinking Atrous Convolution (DeepLabv3), 2017",
             "torchvision models/segmentation/deeplabv3.py ASPP",
             dict(in_channels=2048, atrous_rates=(12, 24, 36), out_channels=256), 15_535_104,
             controls=(Control("atrous_rates", "atrous rates", "ints", (12, 24, 36), minimum=1, maximum=64),
                       Control("out_channels", "output channels", "int", 256, minimum=16, maximum=256, step=16))),
    NeckSpec("fpn", "FPN", FPN, "Lin et al., Feature Pyramid Networks for Object Detection, CVPR 2017",
             "mmdetection 3.x mmdet/models/necks/fpn.py", STANDARD_FPN, 3_344_384,
             controls=(OUT_CHANNELS, NUM_OUTS, EXTRA_CONVS)),
    NeckSpec("pafpn", "PANet (PAFPN)", PAFPN, "Liu et al., Path Aggregation Network for Instance Segmentation, CVPR 2018",
             "mmdetection 3.x mmdet/models/necks/pafpn.py", STANDARD_FPN, 6_884_864, tab="PANet",
             controls=(OUT_CHANNELS, NUM_OUTS, EXTRA_CONVS)),
    NeckSpec("nasfpn", "NAS-FPN", NASFPN, "Ghiasi et al., NAS-FPN, CVPR 2019",
             "mmdetection 3.x mmdet/models/necks/nas_fpn.py + mmcv merge_cells.py",
             dict(STANDARD_FPN, stack_times=7, start_level=1, norm=True), 29_990_144,
             controls=(OUT_CHANNELS, Control("stack_times", "stages", "int", 7, minimum=1, maximum=7))),
    NeckSpec("bifpn", "BiFPN", BiFPN, "Tan et al., EfficientDet, CVPR 2020",
             "rwightman/efficientdet-pytorch effdet/efficientdet.py (efficientdet_d0)",
             dict(in_channels=[40, 112, 320], out_channels=64, num_outs=5, stack_times=3, first_level=3), 194_361,
             controls=(OUT_CHANNELS, Control("stack_times", "cells", "int", 3, minimum=1, maximum=8))),
    NeckSpec("asff", "ASFF", ASFF, "Liu et al., Learning Spatial Fusion for Single-Shot Object Detection, 2019",
             "GOATmessi7/ASFF models/network_blocks.py ASFF (levels 0, 1, 2)",
             dict(in_channels=(256, 256, 512), out_channels=(256, 512, 1024), first_level=3), 9_756_377),
    NeckSpec("rfp", "Recursive-FPN", RFP, "Qiao et al., DetectoRS, CVPR 2021",
             "mmdetection 3.x mmdet/models/necks/rfp.py",
             dict(STANDARD_FPN, rfp_steps=2, aspp_out_channels=64, aspp_dilations=(1, 3, 6, 1)), 3_672_577,
             notes="parameters exclude the re-run backbone, as the reference's RFP.rfp_modules",
             controls=(Control("feedback_init", "feedback weights", "choice", "reference",
                               choices=("reference", "random")),
                       Control("rfp_steps", "passes", "int", 2, minimum=2, maximum=3))),
)}


def build_neck(name: str, seed: int | None = 0, **config: Any) -> Neck:
    """Build a neck in eval mode. With `seed`, its fresh initialisation is reproducible and leaves
    the global random state untouched."""
    if name not in NECKS:
        raise KeyError(f"unknown neck {name!r}; choose from {', '.join(NECKS)}")
    build = NECKS[name].build
    if seed is None:
        return build(**config).eval()
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(**config).eval()


def neck_parameters(neck: nn.Module) -> int:
    """Parameters of the neck itself: a re-run backbone (Recursive-FPN) is not counted."""
    return sum(p.numel() for n, p in neck.named_parameters() if not n.startswith("rfp_modules."))
