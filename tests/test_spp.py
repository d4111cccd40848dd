"""SPP-net pyramid pooling and YOLOv5's SPP / SPPF."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from necklab.graph.topology import Op
from necklab.graph.trace import tracing
from necklab.lab.words import edge_label
from necklab.models.necks.spp import SPPNet, adaptive_bins, blog_formula, paper_formula
from necklab.models.necks.yolo_spp import SPPF, YoloSPP


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- SPP-net: the lesson's pure functions ------------------------------------------------------

@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13, 40])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 6])
def test_adaptive_bins_are_pytorchs(size: int, n: int) -> None:
    x = torch.randn(1, 1, size, 1)
    pooled = F.adaptive_max_pool2d(x, (n, 1))[0, 0, :, 0]
    bins = adaptive_bins(size, n)
    assert len(bins) == n
    expected = torch.stack([x[0, 0, start:end, 0].max() for start, end in bins])
    assert torch.equal(pooled, expected)


def test_adaptive_bins_repeat_cells_of_a_small_map() -> None:
    assert adaptive_bins(1, 4) == ((0, 1),) * 4
    assert adaptive_bins(5, 3) == ((0, 2), (1, 4), (3, 5))  # overlapping bins when n ∤ a


def test_blog_formula_fails_exactly_where_known() -> None:
    rules = [blog_formula(a, n) for a in range(1, 41) for n in (1, 2, 3, 4)]
    assert {r.size for r in rules if not r.accepted} == {1, 2, 3, 5, 9}
    refused = blog_formula(5, 4)
    assert (refused.window, refused.stride, refused.padding) == (2, 2, 2)
    assert refused.bins is None
    assert refused.error == ("pad should be at most half of effective kernel size, "
                             "but got pad=2, kernel_size=2 and dilation=1")
    assert all(r.error is None and r.bins is not None for r in rules if r.accepted)


def test_paper_formula_stride_zero_and_wrong_counts() -> None:
    rules = [paper_formula(a, n) for a in range(1, 41) for n in (1, 2, 3, 4)]
    refused = {(r.size, r.n) for r in rules if not r.accepted}
    assert refused == {(a, n) for a in range(1, 4) for n in range(a + 1, 5)}  # stride ⌊a/n⌋ = 0
    assert paper_formula(2, 3).error == "stride should not be zero"
    wrong = {(r.size, r.n, r.bins) for r in rules if r.accepted and not r.correct}
    assert wrong == {(5, 3, 4), (6, 4, 5), (7, 4, 6), (11, 4, 5)}


# --- SPP-net module ---------------------------------------------------------------------------

SIZES = [(1, 1), (3, 5), (13, 13), (40, 17), (2, 9), (7, 7), (24, 31)]


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_spp_net_vector_length_is_fixed(pool: str) -> None:
    neck = SPPNet(in_channels=8, levels=(1, 2, 4), pool=pool)
    lengths = {neck([torch.randn(1, 8, h, w)])[0].shape for h, w in SIZES}
    assert lengths == {torch.Size([1, 8 * 21])}
    assert neck.out_length == 168
    assert n_params(neck) == 0


def test_spp_net_1x1_map_repeats_its_cell() -> None:
    x = torch.randn(1, 4, 1, 1)
    with tracing() as trace:
        vector = SPPNet(in_channels=4)([x])[0]
    assert torch.equal(trace["bins4"], x.expand(1, 4, 4, 4))
    assert torch.equal(trace.extras["bins4"]["argmax"], torch.zeros(4, 4, 4, dtype=torch.long))
    # Each channel's single value, 1 + 4 + 16 times, level by level.
    expected = torch.cat([x[0, :, 0, 0].repeat_interleave(n * n) for n in (1, 2, 4)])
    assert torch.equal(vector[0], expected)


def test_spp_net_trace() -> None:
    neck = SPPNet(in_channels=6, levels=(1, 2, 4), first_level=5)
    x = torch.randn(1, 6, 5, 7)
    with torch.inference_mode(), tracing() as trace:
        vector = neck([x])[0]
    assert trace.order == neck.topology.order == ["C5", "bins1", "bins2", "bins4", "vector"]
    assert neck.topology.node("C5").level == 5
    assert neck.topology.node("bins2").level is None and neck.topology.node("bins2").branch == "2×2"
    assert torch.equal(vector, torch.cat([trace[f"bins{n}"].flatten(1) for n in (1, 2, 4)], dim=1))
    for n in (1, 2, 4):
        extras = trace.extras[f"bins{n}"]
        assert trace[f"bins{n}"].shape == (1, 6, n, n)
        assert extras["bins"] == (adaptive_bins(5, n), adaptive_bins(7, n))
        argmax = extras["argmax"]
        assert argmax.shape == (6, n, n)
        # Every winning index lies in its bin and holds the bin's value.
        rows, cols = argmax // 7, argmax % 7
        for i, (r0, r1) in enumerate(extras["bins"][0]):
            assert ((rows[:, i] >= r0) & (rows[:, i] < r1)).all()
        for j, (c0, c1) in enumerate(extras["bins"][1]):
            assert ((cols[:, :, j] >= c0) & (cols[:, :, j] < c1)).all()
        assert torch.equal(x[0].flatten(1).gather(1, argmax.flatten(1)).view(6, n, n), trace[f"bins{n}"][0])


def test_spp_net_avg_has_no_argmax_and_checks_channels() -> None:
    with tracing() as trace:
        SPPNet(in_channels=3, pool="avg")([torch.randn(1, 3, 4, 4)])
    assert "argmax" not in trace.extras["bins2"]
    with pytest.raises(ValueError):
        SPPNet(in_channels=3)([torch.randn(1, 5, 4, 4)])


# --- YOLOv5 SPP / SPPF ------------------------------------------------------------------------

def test_yolo_standard_param_counts() -> None:
    assert n_params(YoloSPP(1024, 1024)) == 2_624_512
    assert n_params(SPPF(1024, 1024)) == 2_624_512
    bn = YoloSPP().cv1[1]
    assert (bn.eps, bn.momentum) == (1e-3, 0.03)
    assert YoloSPP().cv1[0].bias is None and isinstance(YoloSPP().cv2[2], torch.nn.SiLU)


@pytest.mark.parametrize("size", [(8, 8), (17, 23), (1, 1), (5, 7)])
def test_sppf_is_spp_bit_for_bit(size: tuple[int, int]) -> None:
    spp = YoloSPP(64, 48).eval()
    sppf = SPPF.from_spp(spp)
    assert list(sppf.state_dict()) == list(spp.state_dict())
    x = torch.randn(1, 64, *size)
    with torch.inference_mode():
        assert torch.equal(spp([x])[0], sppf([x])[0])
        with tracing() as t_spp:
            spp([x])
        with tracing() as t_sppf:
            sppf([x])
    assert torch.equal(t_sppf["pool5_1"], t_spp["pool5"])
    assert torch.equal(t_sppf["pool5_2"], t_spp["pool9"])  # max-pool 5 ∘ max-pool 5 = max-pool 9
    assert torch.equal(t_sppf["pool5_3"], t_spp["pool13"])


def test_from_spp_refuses_kernels_without_a_chain() -> None:
    with pytest.raises(ValueError):
        SPPF.from_spp(YoloSPP(kernel_sizes=(5, 7, 9)))
    assert SPPF(kernel_size=3).equivalent_kernel_sizes == (3, 5, 7)


@pytest.mark.parametrize("neck", [YoloSPP(32, 16), SPPF(32, 16)], ids=["spp", "sppf"])
def test_yolo_trace_and_argmax(neck: YoloSPP | SPPF) -> None:
    neck.eval()
    x = torch.randn(1, 32, 6, 9)
    with torch.inference_mode():
        plain = neck([x])[0]
        with tracing() as trace:
            out = neck([x])[0]
    assert torch.equal(plain, out)
    assert trace.order == neck.topology.order
    assert trace.order[:2] == ["C5", "cv1"] and trace.order[-2:] == ["concat", "cv2"]
    cv1 = trace["cv1"][0].flatten(1)
    pools = [pid for pid, _, _ in neck.pools]
    assert set(trace.extras) == set(pools)
    for pid in pools:
        argmax = trace.extras[pid]["argmax"]
        assert argmax.shape == (16, 6, 9)
        # Indices point into cv1's map (composed through the chain for SPPF) and hold the pooled value.
        assert torch.equal(cv1.gather(1, argmax.flatten(1)).view_as(argmax), trace[pid][0])
    assert out.shape == (1, 16, 6, 9)


def test_sppf_chain_topology() -> None:
    topo = SPPF().topology
    assert [(n.id, n.inputs[0].source) for n in topo.nodes if n.op is Op.MAX_POOL] == [
        ("pool5_1", "cv1"), ("pool5_2", "pool5_1"), ("pool5_3", "pool5_2")]
    assert [e.source for e in topo.node("concat").inputs] == ["cv1", "pool5_1", "pool5_2", "pool5_3"]
    spp_pool13 = YoloSPP().topology.node("pool13").inputs[0]
    assert spp_pool13.layers[0].kernel == 13 and edge_label(spp_pool13) == "max-pool 13×13"


def test_float64() -> None:
    neck = SPPF(16, 8).double().eval()
    assert neck([torch.randn(1, 16, 3, 4, dtype=torch.float64)])[0].dtype == torch.float64
