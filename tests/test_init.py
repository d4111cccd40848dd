"""Fresh initialisation follows each neck's reference, parameter by parameter.

Every neck of the zoo is built with its seed at its default configuration and at its reference
configuration, and every parameter tensor's values are compared with the distribution its reference
draws it from. The rules are written here from the references' source, with their own small fan
function, not with the models' init helpers:

- mmdet FPN, PAFPN (`init_cfg=dict(type='Xavier', distribution='uniform')`): xavier_uniform,
  bound √(6 / (fan_in + fan_out)), biases 0.
- mmdet NAS-FPN (`Caffe2Xavier`): kaiming_uniform a=1, fan_in → bound √(3 / fan_in), biases 0, BN (1, 0).
- mmdet RFP: its FPN convs xavier_uniform as FPN; `rfp_weight` constant 0; the ASPP's declared
  `Kaiming` init (mmcv `kaiming_init`: normal, fan_out, relu → std √(2 / fan_out), biases 0); the
  re-run backbone's feedback convs constant 0 (DetectoRS `Bottleneck.rfp_conv`).
- efficientdet-pytorch BiFPN (`_init_weight`, the non-head branch): `_glorot_uniform` for every conv,
  bound √(3 / max(1, (fan_in + fan_out) / 2)) with fan_out = out·k·k // groups; BN (1, 0) with
  eps 1e-3, momentum 0.01; fusion weights 1.
- GOATmessi7/ASFF (`main.py` `init_yolo`): kaiming_normal a=0.1, fan_in → std √(2 / 1.01) / √fan_in,
  biases 0, BN (1, 0).
- torchvision ASPP, YOLOv5 SPP/SPPF: PyTorch's default, kaiming_uniform a=√5 → bound 1/√fan_in
  (a bias, if any, uniform ±1/√fan_in); YOLOv5's `initialize_weights` sets BN eps 1e-3, momentum 0.03.
- SPP-net has no parameters.

Tolerances: the seed is fixed, so these are deterministic; they are set so that a correct draw passes
with a wide margin (six standard errors of the sample statistic, and never tighter than 3 % on the
standard deviation) while a wrong scale or a wrong shape of distribution fails.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from necklab.models.registry import NECKS, build_neck

# --- the reference rules, from their formulas ---------------------------------------------------


@dataclass(frozen=True)
class Uniform:
    bound: float


@dataclass(frozen=True)
class Normal:
    std: float


@dataclass(frozen=True)
class Constant:
    value: float


Expectation = Uniform | Normal | Constant
ZERO, ONE = Constant(0.0), Constant(1.0)


def fans(conv: nn.Conv2d) -> tuple[int, int]:
    """(fan_in, fan_out) of a conv the way PyTorch and mmcv count them: each output sees
    in/groups · kh·kw inputs; each input feeds out · kh·kw outputs (not divided by the groups)."""
    taps = conv.kernel_size[0] * conv.kernel_size[1]
    return conv.in_channels // conv.groups * taps, conv.out_channels * taps


def xavier_uniform(conv: nn.Conv2d) -> Uniform:
    fan_in, fan_out = fans(conv)
    return Uniform(math.sqrt(6.0 / (fan_in + fan_out)))


def caffe2_xavier(conv: nn.Conv2d) -> Uniform:
    fan_in, _ = fans(conv)
    gain = math.sqrt(2.0 / (1 + 1 ** 2))  # leaky_relu gain with a = 1
    return Uniform(gain * math.sqrt(3.0 / fan_in))


def effdet_glorot(conv: nn.Conv2d) -> Uniform:
    """efficientdet-pytorch `_glorot_uniform`: its `_fan_in_out` divides fan_out by the groups."""
    fan_in, fan_out = fans(conv)
    fan_out //= conv.groups
    return Uniform(math.sqrt(3.0 / max(1.0, (fan_in + fan_out) / 2.0)))


def torch_default(conv: nn.Conv2d) -> Uniform:
    fan_in, _ = fans(conv)
    gain = math.sqrt(2.0 / (1 + 5))  # kaiming_uniform_ with a = √5
    return Uniform(gain * math.sqrt(3.0 / fan_in))  # = 1/√fan_in


def torch_default_bias(conv: nn.Conv2d) -> Uniform:
    fan_in, _ = fans(conv)
    return Uniform(1.0 / math.sqrt(fan_in))


def asff_kaiming(conv: nn.Conv2d) -> Normal:
    fan_in, _ = fans(conv)
    return Normal(math.sqrt(2.0 / (1 + 0.1 ** 2)) / math.sqrt(fan_in))


def mmcv_kaiming_fan_out(conv: nn.Conv2d) -> Normal:
    _, fan_out = fans(conv)
    return Normal(math.sqrt(2.0) / math.sqrt(fan_out))


@dataclass(frozen=True)
class Rule:
    """A neck's reference rule: the conv weight and bias draws (by module path) and its BN."""

    weight: Callable[[str, nn.Conv2d], Expectation]
    bias: Callable[[str, nn.Conv2d], Expectation]
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1


def everywhere(draw: Callable[[nn.Conv2d], Expectation]) -> Callable[[str, nn.Conv2d], Expectation]:
    return lambda _path, conv: draw(conv)


def zero_bias(_path: str, _conv: nn.Conv2d) -> Expectation:
    return ZERO


def _rfp_weight(path: str, conv: nn.Conv2d) -> Expectation:
    if path == "rfp_weight":
        return ZERO
    if path.startswith("rfp_aspp."):
        return mmcv_kaiming_fan_out(conv)
    if path.startswith(("lateral_convs.", "fpn_convs.")):
        return xavier_uniform(conv)
    raise AssertionError(f"RFP has no reference rule for {path}")


RULES: dict[str, Rule] = {
    "spp": Rule(everywhere(torch_default), everywhere(torch_default_bias)),  # no parameters
    "yolo_spp": Rule(everywhere(torch_default), everywhere(torch_default_bias), 1e-3, 0.03),
    "sppf": Rule(everywhere(torch_default), everywhere(torch_default_bias), 1e-3, 0.03),
    "aspp": Rule(everywhere(torch_default), everywhere(torch_default_bias)),
    "fpn": Rule(everywhere(xavier_uniform), zero_bias),
    "pafpn": Rule(everywhere(xavier_uniform), zero_bias),
    "nasfpn": Rule(everywhere(caffe2_xavier), zero_bias),
    "bifpn": Rule(everywhere(effdet_glorot), zero_bias, 1e-3, 0.01),
    "asff": Rule(everywhere(asff_kaiming), zero_bias),
    "rfp": Rule(_rfp_weight, zero_bias),
}

# --- comparing a tensor with its expectation ----------------------------------------------------


def check(values: Tensor, expected: Expectation, label: str) -> None:
    w = values.detach().flatten()
    n = w.numel()
    if isinstance(expected, Constant):
        assert torch.all(w == expected.value), f"{label}: expected all {expected.value}"
        return
    magnitude = w.abs()
    if isinstance(expected, Uniform):
        sigma, kurtosis = expected.bound / math.sqrt(3.0), 1.8
        inside = 1.0 / math.sqrt(3.0)  # P(|w| ≤ σ) for a uniform
        top = magnitude.max().item()
        assert top <= expected.bound * (1 + 1e-6), f"{label}: max |w| {top:.4g} > bound {expected.bound:.4g}"
        # n draws all below (1 − 10/n)·bound has probability (1 − 10/n)^n < e^−10
        floor = expected.bound * (1 - 10.0 / n) if n > 10 else 0.0
        assert top >= floor, f"{label}: max |w| {top:.4g} never nears the bound {expected.bound:.4g}"
    else:
        sigma, kurtosis = expected.std, 3.0
        inside = math.erf(1 / math.sqrt(2))  # P(|w| ≤ σ) for a normal, 0.683
    std = w.std().item()
    std_tol = max(0.03, 6 * math.sqrt((kurtosis - 1) / (4 * n)))
    assert abs(std / sigma - 1) <= std_tol, f"{label}: std {std:.4g}, expected {sigma:.4g} (±{std_tol:.0%})"
    mean = w.mean().item()
    assert abs(mean) <= 6 * sigma / math.sqrt(n), f"{label}: mean {mean:.3g} for std {sigma:.3g}, n {n}"
    share = (magnitude <= sigma).sum().item() / n  # tells a uniform (0.577) from a normal (0.683)
    share_tol = 6 * math.sqrt(inside * (1 - inside) / n) + 0.005
    assert abs(share - inside) <= share_tol, f"{label}: {share:.3f} of |w| ≤ σ, expected {inside:.3f}"


def builtin_necks() -> list[str]:
    return [name for name, spec in NECKS.items() if spec.build.__module__.startswith("necklab.models.necks.")]


def build(name: str, config: str) -> nn.Module:
    spec = NECKS[name]
    return build_neck(name, **(dict(spec.reference_config) if config == "reference" else {}))


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["default", "reference"])
@pytest.mark.parametrize("name", builtin_necks())
def test_fresh_parameters_follow_the_reference_rule(name: str, config: str) -> None:
    assert name in RULES, f"{name}: state its reference's init rule in tests/test_init.py"
    rule = RULES[name]
    neck = build(name, config)
    skipped = tuple(getattr(neck, "uncounted_prefixes", ()))  # RFP's re-run backbone: ImageNet weights
    checked: set[str] = set()
    for path, module in neck.named_modules():
        if path.startswith(skipped):
            continue
        label = f"{name}[{config}] {path}"
        if isinstance(module, nn.Conv2d):
            check(module.weight, rule.weight(path, module), f"{label}.weight")
            checked.add(f"{path}.weight")
            if module.bias is not None:
                check(module.bias, rule.bias(path, module), f"{label}.bias")
                checked.add(f"{path}.bias")
        elif isinstance(module, nn.BatchNorm2d):
            check(module.weight, ONE, f"{label}.weight")
            check(module.bias, ZERO, f"{label}.bias")
            assert module.running_mean is not None and module.running_var is not None
            check(module.running_mean, ZERO, f"{label}.running_mean")
            check(module.running_var, ONE, f"{label}.running_var")
            assert (module.eps, module.momentum) == (rule.bn_eps, rule.bn_momentum), label
            checked |= {f"{path}.weight", f"{path}.bias"}
        elif hasattr(module, "edge_weights"):  # BiFPN's fast-normalised fusion: FpnCombine starts at 1
            check(module.edge_weights, ONE, f"{label}.edge_weights")
            checked.add(f"{path}.edge_weights")
    own = {n for n, _ in neck.named_parameters() if not n.startswith(skipped)}
    assert own == checked, f"{name}: parameters without a reference rule: {sorted(own - checked)}"


@pytest.mark.parametrize("config", ["default", "reference"])
def test_rfp_feedback_convs_start_at_zero(config: str) -> None:
    """DetectoRS's Bottleneck zero-initialises `rfp_conv`: with the gate at ½ the second pass
    starts equal to the first."""
    neck = build("rfp", config)
    feedback = [m for n, m in neck.named_modules() if n.startswith("rfp_modules.") and n.endswith(".rfp_conv")]
    assert len(feedback) == 3  # one per stride-8/16/32 stage
    for conv in feedback:
        assert isinstance(conv, nn.Conv2d) and conv.bias is not None
        check(conv.weight, ZERO, "rfp_conv.weight")
        check(conv.bias, ZERO, "rfp_conv.bias")


def test_bifpn_depthwise_kernels_have_the_reference_scale() -> None:
    """A 64-channel depthwise 3×3 has fans 9 and 9 in efficientdet-pytorch: uniform ±1/√3, std 1/3.
    (PyTorch's fan_out of 576 would give std 0.058.)"""
    neck = build_neck("bifpn")
    depthwise = [m.weight for m in neck.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 24 and all(w.shape == (64, 1, 3, 3) for w in depthwise)
    check(torch.cat([w.flatten() for w in depthwise]), Uniform(1 / math.sqrt(3)), "bifpn depthwise")


def test_fresh_bifpn_outputs_have_the_magnitude_of_the_reference_rule() -> None:
    """The same BiFPN with every conv re-drawn by the reference formula here (another generator)
    gives outputs of the same size: their standard deviations agree within a factor of 2 per level."""
    neck = build_neck("bifpn")
    redrawn = copy.deepcopy(neck)
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for conv in redrawn.modules():
            if isinstance(conv, nn.Conv2d):
                bound = effdet_glorot(conv).bound
                conv.weight.copy_((torch.rand(conv.weight.shape, generator=gen) * 2 - 1) * bound)
        sizes = ((24, 40), (12, 20), (6, 10))
        feats = [torch.randn(1, c, h, w, generator=gen) for c, (h, w) in zip((40, 112, 320), sizes, strict=True)]
        ours, reference = neck(feats), redrawn(feats)
    for level, (a, b) in enumerate(zip(ours, reference, strict=True), start=3):
        ratio = a.std().item() / b.std().item()
        assert 0.5 < ratio < 2.0, f"P{level}: fresh output std is {ratio:.3g}× the reference rule's"
