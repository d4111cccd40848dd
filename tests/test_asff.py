"""ASFF (GOATmessi7/ASFF network_blocks.ASFF, all three levels in one neck)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from necklab.graph.topology import Step
from necklab.graph.trace import Trace, tracing
from necklab.lab.words import edge_label
from necklab.models.necks.asff import ASFF


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def conv_shapes(module: torch.nn.Module) -> list[tuple[int, ...]]:
    return sorted(tuple(m.weight.shape) for m in module.modules() if isinstance(m, torch.nn.Conv2d))


def weight_convs(inter: int) -> list[tuple[int, ...]]:
    """weight_level_0..2 (inter → 16) and weight_levels (48 → 3), present at every level."""
    return [(16, inter, 1, 1)] * 3 + [(3, 48, 1, 1)]


def run(neck: ASFF, sizes: list[tuple[int, int]]) -> tuple[list[torch.Tensor], Trace]:
    feats = [torch.randn(1, c, *hw) for c, hw in zip(neck.in_channels, sizes)]
    with torch.inference_mode(), tracing() as trace:
        outs = neck(feats)
    return outs, trace


def test_reference_configuration() -> None:
    # Reference dims [512, 256, 256] (level 0 coarsest) = in_channels (256, 256, 512) fine → coarse.
    neck = ASFF(in_channels=(256, 256, 512), out_channels=(256, 512, 1024), first_level=3)
    assert n_params(neck) == 9_756_377
    per_level = {name: n_params(f) for name, f in neck.fusions.items()}
    assert per_level == {"A5": 7_106_803, "A4": 1_915_123, "A3": 734_451}
    # The reference's modules per level, as conv weight shapes.
    assert conv_shapes(neck.fusions["A5"]) == sorted(  # reference level 0
        [(512, 256, 3, 3), (512, 256, 3, 3), (1024, 512, 3, 3)] + weight_convs(512))
    assert conv_shapes(neck.fusions["A4"]) == sorted(  # level 1: compress_level_0, stride_level_2
        [(256, 512, 1, 1), (256, 256, 3, 3), (512, 256, 3, 3)] + weight_convs(256))
    assert conv_shapes(neck.fusions["A3"]) == sorted(  # level 2: compress_level_0 only
        [(256, 512, 1, 1), (256, 256, 3, 3)] + weight_convs(256))
    for m in neck.modules():
        if isinstance(m, torch.nn.Conv2d):
            assert (m.bias is not None) == (m.out_channels == 3)  # only weight_levels has a bias
        if isinstance(m, torch.nn.LeakyReLU):
            assert m.negative_slope == 0.1


SIZES = [
    [(20, 28), (10, 14), (5, 7)],  # 160×224 picture
    [(17, 23), (9, 12), (5, 6)],  # sizes that don't halve (SAME padding: ceil)
    [(4, 4), (2, 2), (1, 1)],  # 1×1 C5
    [(7, 7), (3, 3), (1, 1)],  # floor-halved inputs: stride-2 convs land one cell too large
]


@pytest.mark.parametrize("sizes", SIZES)
def test_weights_sum_to_one_and_shapes(sizes: list[tuple[int, int]]) -> None:
    neck = ASFF().eval()
    outs, trace = run(neck, sizes)
    assert [tuple(o.shape) for o in outs] == [(1, c, *hw) for c, hw in zip((40, 112, 320), sizes)]
    assert trace.order == neck.topology.order
    for lvl, hw in zip((3, 4, 5), sizes):
        extras = trace.extras[f"A{lvl}.fused"]
        weights = extras["weights"]
        assert weights.shape == (1, 3, *hw)
        assert (weights >= 0).all()
        torch.testing.assert_close(weights.sum(dim=1), torch.ones(1, *hw))
        assert len(extras["sources"]) == 3 and extras["sources"][lvl - 3] == f"C{lvl}"
        for source in extras["sources"]:
            assert trace[source].shape == (1, neck.in_channels[lvl - 3], *hw)


def test_trace_order() -> None:
    neck = ASFF()
    assert neck.topology.order == [
        "C3", "C4", "C5",
        "A3.from4", "A3.from5", "A3.fused", "A3",
        "A4.from3", "A4.from5", "A4.fused", "A4",
        "A5.from3", "A5.from4", "A5.fused", "A5"]
    assert neck.topology.outputs == ("A3", "A4", "A5")
    assert neck.topology.node("A5.from3").inputs[0].steps == (Step.max_pool(3, 2), Step.conv(3, 2))
    assert edge_label(neck.topology.node("A5.from3").inputs[0]) == "max-pool 3×3 s2, 3×3 s2 conv"
    assert edge_label(neck.topology.node("A3.from5").inputs[0]) == "1×1 conv, ↑ nearest"


def test_fusion_matches_the_reference_arithmetic() -> None:
    """Reference level 2 (finest) with its scale-factor upsampling, recomputed from the neck's own
    modules: exact-size nearest upsampling gives the same numbers when sizes halve exactly."""
    neck = ASFF(in_channels=(8, 8, 16), out_channels=(8, 16, 32)).eval()
    outs, trace = run(neck, [(8, 12), (4, 6), (2, 3)])
    c3, c4, c5 = (trace[f"C{lvl}"] for lvl in (3, 4, 5))
    fusion = neck.fusions["A3"]
    l0 = F.interpolate(fusion.resize["C5"](c5), scale_factor=4, mode="nearest")
    l1 = F.interpolate(c4, scale_factor=2, mode="nearest")  # equal channels: no compress
    assert "C4" not in fusion.resize
    assert torch.equal(trace["A3.from5"], l0) and torch.equal(trace["A3.from4"], l1)
    logits = fusion.weight_levels(torch.cat([fusion.weight_convs[0](c3), fusion.weight_convs[1](l1),
                                             fusion.weight_convs[2](l0)], dim=1))
    w = F.softmax(logits, dim=1)
    fused = c3 * w[:, 0:1] + l1 * w[:, 1:2] + l0 * w[:, 2:3]
    torch.testing.assert_close(outs[0], fusion.expand(fused))
    # coarsest level: max-pool 3×3 s2 then the stride-2 conv from two levels down
    a5 = neck.fusions["A5"]
    torch.testing.assert_close(trace["A5.from3"], a5.resize["C3"](F.max_pool2d(c3, 3, 2, 1)))


def test_float64() -> None:
    neck = ASFF(in_channels=(4, 4, 8), out_channels=(4, 4, 4)).double().eval()
    feats = [torch.randn(1, c, s, s, dtype=torch.float64) for c, s in zip((4, 4, 8), (6, 3, 2))]
    assert all(o.dtype == torch.float64 for o in neck(feats))
