"""BiFPN: EfficientDet-D0 parameter count, node list, fusion weights, resampling, shapes."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from necklab.graph.topology import Step
from necklab.graph.trace import Trace, tracing
from necklab.lab.words import edges_label
from necklab.models.necks.bifpn import NODES, BiFPN, downsample

CHANNELS = (40, 112, 320)  # EfficientNet-Lite0 C3 … C5
# a 333×517 picture through SAME-padded strides 8, 16, 32 (ceil division)
PICTURE_SIZES = ((42, 65), (21, 33), (11, 17))
FUSION_IDS = ["P6td", "P5td", "P4td", "P3out", "P4out", "P5out", "P6out", "P7out"]


def features(sizes: tuple[tuple[int, int], ...], seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(1, c, h, w, generator=gen) for c, (h, w) in zip(CHANNELS, sizes)]


@pytest.fixture(scope="module")
def neck() -> BiFPN:
    torch.manual_seed(0)
    return BiFPN().eval()


@pytest.fixture(scope="module")
def run(neck: BiFPN) -> tuple[Trace, list[torch.Tensor]]:
    with torch.no_grad(), tracing() as trace:
        outs = neck(features(PICTURE_SIZES))
    return trace, outs


def test_efficientdet_d0_parameter_count() -> None:
    neck = BiFPN([40, 112, 320], 64, num_outs=5, stack_times=3, first_level=3)
    assert sum(p.numel() for p in neck.parameters()) == 194_361
    # the channel-matching 1×1 convs exist in the first cell only: 320 twice, 112 twice, 40 once
    first = sorted(m.in_channels for m in neck.cells[0].modules() if isinstance(m, torch.nn.Conv2d)
                   and m.kernel_size == (1, 1) and m.in_channels != 64)
    assert first == [40, 112, 112, 320, 320]
    assert not any(len(fusion.resample) for cell in neck.cells[1:] for fusion in cell)
    assert all(torch.equal(f.edge_weights, torch.ones(len(f.edge_weights))) for c in neck.cells for f in c)


def test_trace_follows_topology(neck: BiFPN, run) -> None:
    trace, _ = run
    assert trace.order == neck.topology.order
    expected = ["C3", "C4", "C5", "P6", "P7"] + [f"c{k}.{n}" for k in (1, 2, 3) for n in FUSION_IDS]
    assert trace.order == expected
    assert neck.output_names == ["c3.P3out", "c3.P4out", "c3.P5out", "c3.P6out", "c3.P7out"]
    assert neck.topology.extras["nodes"] == NODES


def test_output_shapes_for_a_picture_that_does_not_halve(run) -> None:
    _, outs = run
    # P6, P7: 3×3/2 max-pool with padding 1 gives ceil sizes
    assert [tuple(o.shape) for o in outs] == [
        (1, 64, 42, 65), (1, 64, 21, 33), (1, 64, 11, 17), (1, 64, 6, 9), (1, 64, 3, 5)]


def test_graph_has_the_reference_node_list(neck: BiFPN) -> None:
    g = neck.topology.graph()
    for k in (1, 2, 3):
        assert [g.in_degree(f"c{k}.{n}") for n in FUSION_IDS] == [2, 2, 2, 2, 3, 3, 3, 2]
    assert set(g.predecessors("c1.P4out")) == {"C4", "c1.P4td", "c1.P3out"}
    assert set(g.predecessors("c2.P6td")) == {"c1.P6out", "c1.P7out"}
    assert set(g.predecessors("c2.P6out")) == {"c1.P6out", "c2.P6td", "c2.P5out"}
    assert set(g.predecessors("P6")) == {"C5"} and set(g.predecessors("P7")) == {"P6"}
    assert [e.steps for e in g.edges["c1.P5td", "c1.P4td"]["edges"]] == [(Step.up(2),)]
    assert edges_label(g.edges["c1.P5td", "c1.P4td"]["edges"]) == "↑2 nearest"
    assert edges_label(g.edges["c1.P3out", "c1.P4out"]["edges"]) == "max-pool ↓2"
    assert edges_label(g.edges["C4", "c1.P4out"]["edges"]) == "1×1 conv+BN"


def test_fusion_weights_are_normalised(run) -> None:
    trace, _ = run
    fusion = [node_id for node_id in trace.order if node_id.startswith("c")]
    assert len(fusion) == 24
    for node_id in fusion:
        weights = trace.extras[node_id]["weights"]
        assert weights.dim() == 1 and len(weights) in (2, 3)
        assert (weights >= 0).all()
        assert weights.sum().item() == pytest.approx(1.0, abs=1e-3)


def test_negative_raw_weights_are_clipped() -> None:
    torch.manual_seed(0)
    neck = BiFPN().eval()
    with torch.no_grad():
        for cell in neck.cells:
            for fusion in cell:
                fusion.edge_weights.copy_(torch.linspace(-1.0, 2.0, len(fusion.edge_weights)))
    with torch.no_grad(), tracing() as trace:
        neck(features(((8, 8), (4, 4), (2, 2))))
    two = trace.extras["c2.P6td"]["weights"]  # raw (-1, 2) → (0, 1)
    three = trace.extras["c2.P5out"]["weights"]  # raw (-1, 0.5, 2) → (0, 0.2, 0.8)
    assert torch.allclose(two, torch.tensor([0.0, 1.0]), atol=1e-3)
    assert torch.allclose(three, torch.tensor([0.0, 0.2, 0.8]), atol=1e-3)


def test_nodes_compute_what_the_reference_computes(neck: BiFPN, run) -> None:
    trace, _ = run
    fusion = neck.cells[1][0]  # c2.P6td = fuse(P6 out, P7 out ↑) of cell 1
    w = F.relu(fusion.edge_weights) / (F.relu(fusion.edge_weights).sum() + 1e-4)
    fused = w[0] * trace["c1.P6out"] + w[1] * F.interpolate(trace["c1.P7out"], size=(6, 9), mode="nearest")
    _, depthwise, pointwise = fusion.after_combine
    with torch.no_grad():  # swish first, then the separable conv and BN
        expected = pointwise(depthwise(F.silu(fused)))
    assert torch.allclose(trace["c2.P6td"], expected, atol=1e-5)
    resampled = trace.extras["c1.P4out"]["resampled"]  # C4 via 1×1 conv, P4td, P3out max-pooled
    assert [tuple(x.shape) for x in resampled] == [(1, 64, 21, 33)] * 3
    assert torch.equal(resampled[2], F.max_pool2d(trace["c1.P3out"], 3, 2, 1))


def test_downsample_lands_on_the_target_size() -> None:
    x = torch.randn(1, 2, 42, 65)
    assert torch.equal(downsample(x, 1, (21, 33)), F.max_pool2d(x, 3, 2, 1))
    # a floor-sized target (from a backbone that floors) is one cell smaller: resized to fit
    assert downsample(x, 1, (21, 32)).shape[-2:] == (21, 32)


@pytest.mark.parametrize("sizes, expected", [
    (((4, 4), (2, 2), (1, 1)), [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]),
    (((8, 12), (4, 6), (2, 3)), [(8, 12), (4, 6), (2, 3), (1, 2), (1, 1)]),
    (((42, 65), (21, 32), (10, 16)), [(42, 65), (21, 32), (10, 16), (5, 8), (3, 4)]),  # floor-sized
])
def test_tiny_and_odd_inputs(neck: BiFPN, sizes, expected: list[tuple[int, int]]) -> None:
    with torch.inference_mode(), tracing() as trace:
        outs = neck(features(sizes))
    assert [tuple(o.shape[-2:]) for o in outs] == expected
    assert trace.order == neck.topology.order
    assert all(torch.isfinite(o).all() for o in outs)


def test_plain_forward_matches_traced_forward(neck: BiFPN, run) -> None:
    _, traced = run
    with torch.inference_mode():
        outs = neck(features(PICTURE_SIZES))
    assert all(torch.equal(a, b) for a, b in zip(outs, traced))


def test_rejects_configurations_the_node_list_cannot_wire() -> None:
    with pytest.raises(ValueError):
        BiFPN(num_outs=4)
    with pytest.raises(ValueError):
        BiFPN(stack_times=0)
