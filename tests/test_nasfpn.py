"""NAS-FPN: reference parameter count, cell order, graph wiring, mmcv's resize rule, shapes."""
from __future__ import annotations

import math
import time

import pytest
import torch
import torch.nn.functional as F

from necklab.graph.receptive_field import RF
from necklab.graph.trace import Trace, tracing
from necklab.models.necks.nasfpn import CELLS, NASFPN, halve, merge_resize

CHANNELS = (24, 40, 112, 320)  # EfficientNet-Lite0 C2 … C5
# a 333×517 picture through SAME-padded strides 4, 8, 16, 32
PICTURE_SIZES = ((84, 130), (42, 65), (21, 33), (11, 17))


def features(sizes: tuple[tuple[int, int], ...], seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(1, c, h, w, generator=gen) for c, (h, w) in zip(CHANNELS, sizes)]


@pytest.fixture(scope="module")
def neck() -> NASFPN:
    torch.manual_seed(0)
    return NASFPN().eval()


@pytest.fixture(scope="module")
def run(neck: NASFPN) -> tuple[Trace, list[torch.Tensor]]:
    with torch.no_grad(), tracing() as trace:
        outs = neck(features(PICTURE_SIZES))
    return trace, outs


def test_reference_configuration_has_the_reference_parameter_count() -> None:
    with torch.device("meta"):  # counting only: no memory, no init cost
        neck = NASFPN([256, 512, 1024, 2048], 256, num_outs=5, stack_times=7, start_level=1,
                      norm=True, first_level=2)
    assert sum(p.numel() for p in neck.parameters()) == 29_990_144


def test_default_parameter_count() -> None:
    # laterals (40+112+320)·64 + 3·128, extras 2·(64·64 + 128), 49 out convs of 64·64·9 + 64 + 128
    with torch.device("meta"):
        neck = NASFPN()
    assert sum(p.numel() for p in neck.parameters()) == 30_592 + 8_448 + 49 * 37_056


def test_trace_follows_topology_and_cells_run_in_list_order(neck: NASFPN, run) -> None:
    trace, _ = run
    assert trace.order == neck.topology.order
    assert trace.order[:10] == ["C2", "C3", "C4", "C5", "L3", "L4", "L5", "P6", "P7", "s1.gp_64_4"]
    for k in range(1, 8):
        stage = [node_id.split(".", 1)[1] for node_id in trace.order if node_id.startswith(f"s{k}.")]
        assert stage == [cell.name for cell in CELLS]
    assert neck.output_names == ["s7.sum_43_3", "s7.sum_34_4", "s7.sum_55_5", "s7.gp_75_6", "s7.sum_77_7"]
    assert neck.topology.extras["cells"] == CELLS


def test_output_shapes_for_a_picture_that_does_not_halve(run) -> None:
    _, outs = run
    # P3…P5 keep the laterals' sizes; P6, P7 are floor-halved by the 2×2 max-pool
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 42, 65), (1, 64, 21, 33), (1, 64, 11, 17), (1, 64, 5, 8), (1, 64, 2, 4)]


def test_graph_wiring(neck: NASFPN) -> None:
    g = neck.topology.graph()
    cells = [n.id for n in neck.topology.nodes if n.stage is not None]
    assert len(cells) == 7 * 9
    assert all(g.in_degree(c) == 2 for c in cells)
    # p4_2 feeds sum_43_3, sum_34_4 and gp_54_7 of its own stage
    assert set(g.successors("s3.sum_44_4")) == {"s3.sum_43_3", "s3.sum_34_4", "s3.gp_54_7"}
    assert g.out_degree("s1.gp_64_4") == 1  # p4_1 → sum_44_4 only
    assert set(g.successors("s3.sum_43_3")) == {"s3.sum_34_4", "s3.gp_43_5", "s4.sum_43_3"}
    assert set(g.successors("s3.sum_55_5")) == {"s3.gp_54_7", "s3.gp_75_6", "s4.sum_55_5"}
    assert set(g.successors("s3.gp_75_6")) == {"s4.gp_64_4"}
    assert set(g.successors("L4")) == {"s1.gp_64_4", "s1.sum_44_4"}
    assert g.out_degree("C2") == 0  # start_level 1: C2 is recorded but unused
    assert g.out_degree("s7.gp_75_6") == 0  # the last cell feeds nothing
    assert set(g.successors("s7.sum_34_4")) == {"s7.gp_43_5"}  # the last p4 only feeds gp_43_5
    # gp_54_7 reads p5 (this stage's sum_55_5) and p4_2 (sum_44_4), resized up to P7
    node = neck.topology.node("s2.gp_54_7")
    assert [e.source for e in node.inputs] == ["s2.sum_55_5", "s2.sum_44_4", "s2.sum_44_4"]
    assert node.level == 7


def test_merge_resize_pads_with_zeros_then_pools() -> None:
    x = -torch.arange(1.0, 16.0).view(1, 1, 5, 3)
    # 5×3 → 2×2: pad one zero row at the bottom and one zero column on the right, then 3×2 windows
    assert merge_resize(x, (2, 2)).flatten().tolist() == [-1.0, 0.0, 0.0, 0.0]


def test_merge_resize_compares_sizes_as_tuples() -> None:
    column = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 3, 1)
    # (3, 1) > (2, 2) lexicographically: mmcv pools (pad to 4×2, 2×1 windows) instead of upsampling
    assert merge_resize(column, (2, 2)).flatten().tolist() == [2.0, 0.0, 3.0, 0.0]
    row = torch.tensor([1.0, 2.0, 3.0]).view(1, 1, 1, 3)
    # (1, 3) < (2, 2): nearest upsampling, which also shrinks the width
    assert merge_resize(row, (2, 2)).flatten().tolist() == [1.0, 2.0, 1.0, 2.0]
    assert merge_resize(row, (1, 3)) is row


def test_halve_matches_the_reference_pool_and_keeps_single_cells() -> None:
    x = torch.randn(1, 2, 5, 7)
    assert torch.equal(halve(x), F.max_pool2d(x, 2, 2))
    assert halve(torch.randn(1, 2, 1, 1)).shape[-2:] == (1, 1)
    assert halve(torch.randn(1, 2, 1, 4)).shape[-2:] == (1, 2)


def test_cells_compute_what_the_reference_computes(neck: NASFPN, run) -> None:
    trace, _ = run
    a, b = trace.extras["s2.gp_43_5"]["resized"]  # no output conv: the merge is the output
    attention = trace.extras["s2.gp_43_5"]["attention"]
    assert a.shape == b.shape == trace["s2.gp_43_5"].shape == (1, 64, 11, 17)
    assert attention.shape == (1, 64, 1, 1)
    assert torch.allclose(attention, torch.sigmoid(b.mean(dim=(2, 3), keepdim=True)))
    assert torch.allclose(trace["s2.gp_43_5"], b + attention * a)
    # resized inputs are the source nodes brought to P5 (p4 is max-pooled 21×33 → 11×17 with padding)
    assert torch.equal(a, merge_resize(trace["s2.sum_34_4"], (11, 17)))
    a, b = trace.extras["s2.sum_43_3"]["resized"]
    out_conv = neck.fpn_stages[1]["sum_43_3"].out_conv
    assert out_conv.conv.bias is not None  # mmcv keeps the bias in front of BN
    with torch.no_grad():  # ReLU → 3×3 conv → BN
        expected = out_conv.norm(out_conv.conv(F.relu(a + b)))
    assert torch.allclose(trace["s2.sum_43_3"], expected, atol=1e-6)
    assert set(trace.extras["s2.sum_43_3"]) == {"resized"}


@pytest.mark.parametrize("c5, sizes", [
    ((1, 1), [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]),
    ((2, 3), [(8, 12), (4, 6), (2, 3), (1, 1), (1, 1)]),
    ((5, 7), [(20, 28), (10, 14), (5, 7), (2, 3), (1, 1)]),
])
def test_tiny_and_odd_inputs(neck: NASFPN, c5: tuple[int, int], sizes: list[tuple[int, int]]) -> None:
    h, w = c5
    feats = features(((8 * h, 8 * w), (4 * h, 4 * w), (2 * h, 2 * w), (h, w)))
    with torch.inference_mode(), tracing() as trace:
        outs = neck(feats)
    assert [tuple(o.shape[-2:]) for o in outs] == sizes
    assert trace.order == neck.topology.order
    assert all(torch.isfinite(o).all() for o in outs)


def test_plain_forward_matches_traced_forward(neck: NASFPN, run) -> None:
    _, traced = run
    with torch.inference_mode():
        outs = neck(features(PICTURE_SIZES))
    assert all(torch.equal(a, b) for a, b in zip(outs, traced))


def test_receptive_fields_stay_tractable(neck: NASFPN) -> None:
    base = {f"C{lvl}": RF(2.0 ** lvl, 2.0 ** lvl, 0.0) for lvl in range(2, 6)}
    start = time.perf_counter()
    fields = neck.topology.receptive_fields(base)
    assert time.perf_counter() - start < 5.0  # ≈0.5 s on two cores; catches a path explosion
    assert set(fields) == set(neck.topology.order)
    # the global-pooling attention reaches every output; a sum cell's local paths stay finite
    assert any(math.isinf(p.rf.size) for p in fields["s7.sum_43_3"])
    assert any(math.isfinite(p.rf.size) for p in fields["s7.sum_43_3"])
    assert all(math.isfinite(p.rf.size) for p in fields["L3"])


def test_rejects_configurations_the_cells_cannot_wire() -> None:
    with pytest.raises(ValueError):
        NASFPN(num_outs=4)
    with pytest.raises(ValueError):
        NASFPN(stack_times=0)
