"""Building blocks shared by the necks: one conv/norm/act block, the base class, weight inits and
seeded construction."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from threading import Lock
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from necklab.graph.topology import Topology

# torch's random generator is process-wide: seeded builds (and anything that forks the generator)
# take turns, or concurrent sessions would mix their draws and lose reproducibility.
RNG_LOCK = Lock()

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": lambda: nn.ReLU(inplace=False),
    "relu6": lambda: nn.ReLU6(inplace=False),
    "silu": lambda: nn.SiLU(inplace=False),  # YOLOv5's SiLU, EfficientDet's swish
    "leaky": lambda: nn.LeakyReLU(0.1, inplace=False),  # ASFF / YOLOv3
}


def conv_block(
    in_channels: int,
    out_channels: int,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    *,
    norm: bool = False,
    act: str | None = None,
    bias: bool | None = None,
    order: Sequence[str] = ("conv", "norm", "act"),
    groups: int = 1,
    bn_eps: float = 1e-5,
    bn_momentum: float = 0.1,
) -> nn.Sequential:
    """Conv (padding keeps the size at stride 1) with optional BatchNorm and activation.

    `bias=None` means what mmcv calls "auto": a bias only when no norm follows. `order` lets NAS-FPN
    put the activation first (act → conv → norm), as its merging cells do.
    """
    padding = dilation * (kernel - 1) // 2
    parts = {
        "conv": nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation, groups,
                          bias=(not norm) if bias is None else bias),
        "norm": nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum) if norm else None,
        "act": ACTIVATIONS[act]() if act else None,
    }
    block = nn.Sequential()
    for name in order:
        if parts[name] is not None:
            block.add_module(name, parts[name])
    return block


def bias_of(conv: nn.Conv2d) -> Tensor:
    """The bias of a conv built with `bias=True` (torch types every Conv2d's bias as optional)."""
    if conv.bias is None:
        raise ValueError(f"{conv} has no bias")
    return conv.bias


def upsample_to(x: Tensor, size: Sequence[int]) -> Tensor:
    """Nearest upsampling to an exact size, as mmdet's FPN does (works for sizes that don't halve)."""
    return F.interpolate(x, size=tuple(size), mode="nearest")


class Neck(nn.Module):
    """A neck: `topology` states its graph; `forward(feats)` takes the levels fine → coarse.

    `input_names` are the topology's input node ids in the order `forward` takes them.
    """

    topology: Topology
    # Submodules that are not the neck's own parameters (Recursive-FPN's re-run backbone copies).
    uncounted_prefixes: tuple[str, ...] = ()
    # Layers inside those submodules that belong to the neck and train with it (RFP's feedback convs).
    owned_in_uncounted: tuple[str, ...] = ()

    def is_frozen(self, key: str) -> bool:
        """Whether a parameter or buffer (state-dict key) stays as it is when the neck trains: a
        re-run backbone's, except the layers the neck owns inside it."""
        return key.startswith(self.uncounted_prefixes) and not any(f".{n}." in key for n in self.owned_in_uncounted)

    @property
    def parameter_count(self) -> int:
        """Parameters of the neck itself, as its reference counts them."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith(self.uncounted_prefixes))

    @property
    def input_names(self) -> list[str]:
        return self.topology.inputs

    @property
    def output_names(self) -> list[str]:
        return list(self.topology.outputs)


def effdet_fans(weight: Tensor, groups: int) -> tuple[int, int]:
    """Fan-in and fan-out as efficientdet-pytorch's `_init_weight` counts them for a conv weight
    (out, in/groups, kh, kw): fan_in = in/groups · kh·kw, fan_out = out · kh·kw // groups.

    PyTorch's `_calculate_fan_in_and_fan_out` does not divide fan_out by the groups: for a 64-channel
    depthwise 3×3 it gives fan_out 576 where the reference has 9, and a ~6× narrower uniform.
    """
    receptive_field = weight[0][0].numel()
    return weight.shape[1] * receptive_field, weight.shape[0] * receptive_field // groups


def init_convs(module: nn.Module, method: str) -> None:
    """Initialise every Conv2d the way a reference does; biases to 0, BN to (1, 0).

    xavier_uniform — mmdet FPN/PAFPN/RFP; caffe2_xavier — mmdet NAS-FPN (kaiming-uniform, a=1);
    glorot_avg — efficientdet-pytorch `_glorot_uniform` (uniform ±√(3 / fan average), its fans per
    `effdet_fans`); yolov3_asff — GOATmessi7/ASFF `main.py` `init_yolo` (kaiming-normal, a=0.1,
    fan_in); default — PyTorch's own (torchvision ASPP, YOLOv5 keep it).
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if method == "xavier_uniform":
                nn.init.xavier_uniform_(m.weight)
            elif method == "caffe2_xavier":
                nn.init.kaiming_uniform_(m.weight, a=1, mode="fan_in", nonlinearity="leaky_relu")
            elif method == "yolov3_asff":
                nn.init.kaiming_normal_(m.weight, a=0.1, mode="fan_in", nonlinearity="leaky_relu")
            elif method == "glorot_avg":
                fan_in, fan_out = effdet_fans(m.weight, m.groups)
                limit = (3.0 / max(1.0, (fan_in + fan_out) / 2.0)) ** 0.5
                nn.init.uniform_(m.weight, -limit, limit)
            elif method != "default":
                raise ValueError(f"unknown init {method!r}")
            if m.bias is not None and method != "default":
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


M = TypeVar("M", bound=nn.Module)


def seeded(build: Callable[..., M], seed: int | None, **config: Any) -> M:
    """`build(**config)` in eval mode; with `seed`, its fresh initialisation is reproducible and
    leaves the global random state untouched."""
    if seed is None:
        return build(**config).eval()
    with RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(**config).eval()
