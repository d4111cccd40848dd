"""DeepLabv3 ASPP (torchvision's structure)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from necklab.graph.topology import Step
from necklab.graph.trace import tracing
from necklab.lab.words import edge_label
from necklab.models.necks.aspp import ASPP, degenerate

RATES = (12, 24, 36)


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def aspp() -> ASPP:
    torch.manual_seed(0)
    return ASPP(in_channels=32, atrous_rates=RATES, out_channels=16).eval()


def run(neck: ASPP, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor, object]:
    x = torch.randn(1, neck.in_channels, height, width)
    with torch.inference_mode(), tracing() as trace:
        out = neck([x])[0]
    return x, out, trace


def test_standard_param_count_and_layout() -> None:
    neck = ASPP(2048, [12, 24, 36], 256)
    assert sum(p.numel() for p in neck.parameters()) == 15_535_104
    # torchvision's state-dict layout: convs.{0 1×1, 1–3 dilated, 4 pooling}, project.
    keys = neck.state_dict()
    assert keys["convs.2.0.weight"].shape == (256, 2048, 3, 3) and neck.convs[2][0].dilation == (24, 24)
    assert keys["convs.4.1.weight"].shape == (256, 2048, 1, 1)
    assert keys["project.0.weight"].shape == (256, 1280, 1, 1)
    assert all(m.bias is None for m in neck.modules() if isinstance(m, torch.nn.Conv2d))
    assert isinstance(neck.project[3], torch.nn.Dropout) and neck.project[3].p == 0.5


def test_5x7_map_shape_and_trace(aspp: ASPP) -> None:
    _, out, trace = run(aspp, 5, 7)
    assert out.shape == (1, 16, 5, 7)
    assert trace.order == aspp.topology.order == ["C5", "b1x1", "rate12", "rate24", "rate36", "pool", "concat",
                                                  "project"]
    assert trace["concat"].shape == (1, 16 * 5, 5, 7)
    pool = trace["pool"]
    # image pooling: one value per channel (bilinear from 1×1 is constant up to rounding)
    torch.testing.assert_close(pool, pool[:, :, :1, :1].expand_as(pool))


@pytest.mark.parametrize(("size", "flags"), [
    ((5, 7), (True, True, True)),
    ((40, 40), (False, False, False)),
    ((24, 13), (False, True, True)),  # H = 24 > 12 keeps rate 12's vertical taps; 24 ≤ 24 does not
    ((1, 1), (True, True, True)),
])
def test_degenerate_flags(aspp: ASPP, size: tuple[int, int], flags: tuple[bool, ...]) -> None:
    _, _, trace = run(aspp, *size)
    assert tuple(trace.extras[f"rate{r}"]["degenerate"] for r in RATES) == flags
    assert set(trace.extras) == {f"rate{r}" for r in RATES}


def test_degenerate_branch_is_its_centre_tap(aspp: ASPP) -> None:
    x, _, trace = run(aspp, 5, 7)
    conv, bn, relu = aspp.convs[1]
    centre_only = relu(bn(F.conv2d(x, conv.weight[:, :, 1:2, 1:2])))
    torch.testing.assert_close(trace["rate12"], centre_only)
    # and on a map large enough it is not
    x, _, trace = run(aspp, 13, 13)
    assert not torch.allclose(trace["rate12"], relu(bn(F.conv2d(x, conv.weight[:, :, 1:2, 1:2]))))


def test_degenerate_rule() -> None:
    assert degenerate(12, 12, 12) and not degenerate(13, 1, 12) and not degenerate(1, 13, 12)


def test_topology_edges() -> None:
    topo = ASPP().topology
    rate24 = topo.node("rate24").inputs[0]
    assert rate24.steps == (Step.conv(3, rate=24),) and rate24.layers[0].effective_kernel == 49
    assert edge_label(rate24) == "3×3 rate 24" and edge_label(rate24, "zh") == "3×3 空洞率 24"
    assert topo.node("pool").inputs[0].layers[0].global_pool
    assert [e.source for e in topo.node("concat").inputs] == ["b1x1", "rate12", "rate24", "rate36", "pool"]


def test_train_mode_batch_1_fails_in_the_pooling_bn() -> None:
    neck = ASPP(in_channels=8, out_channels=4).train()
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        neck([torch.randn(1, 8, 5, 7)])


def test_float64() -> None:
    neck = ASPP(in_channels=8, out_channels=4).double().eval()
    assert neck([torch.randn(1, 8, 3, 3, dtype=torch.float64)])[0].dtype == torch.float64
