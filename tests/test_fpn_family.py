"""FPN, PAFPN and Recursive-FPN: reference parameter counts, strides, the structure of each path."""
from __future__ import annotations

import torch

from necklab.graph.trace import tracing
from necklab.models.necks.fpn import FPN
from necklab.models.necks.pafpn import PAFPN
from necklab.models.registry import build_neck, neck_parameters

STANDARD = dict(in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)


def standard_inputs(h: int = 64, w: int = 96) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(1, c, -(-h // 2 ** (i + 2)), -(-w // 2 ** (i + 2)), generator=g)
            for i, c in enumerate(STANDARD["in_channels"])]


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_fpn_standard_configuration():
    fpn = FPN(**STANDARD).eval()
    assert n_params(fpn) == 3_344_384
    with torch.inference_mode():
        outs = fpn(standard_inputs(256, 320))
    assert [tuple(o.shape[-2:]) for o in outs] == [(256 // s, 320 // s) for s in (4, 8, 16, 32, 64)]
    assert fpn.output_names == ["P2", "P3", "P4", "P5", "P6"]


def test_fpn_extra_convs_on_input_add_a_strided_conv_on_c5():
    fpn = FPN(**STANDARD, add_extra_convs="on_input")
    assert n_params(fpn) == 3_344_384 + 2048 * 256 * 9 + 256
    assert fpn.topology.node("P6").inputs[0].source == "C5"


def test_fpn_top_down_merges_nearest_upsampled_coarser_level():
    fpn = FPN().eval()
    feats = [torch.randn(1, c, s, s + 1) for c, s in zip((24, 40, 112, 320), (21, 11, 6, 3))]
    with torch.inference_mode(), tracing() as t:
        fpn(feats)
    up = torch.nn.functional.interpolate(t["T4"], size=(11, 12), mode="nearest")
    assert torch.equal(t["T3"], t["L3"] + up)
    assert t["P6"].shape[-2:] == (2, 2)  # max-pool kernel 1 stride 2 of a 3×4 map


def test_pafpn_standard_configuration_and_paths():
    pafpn = PAFPN(**STANDARD).eval()
    assert n_params(pafpn) == 6_884_864
    with torch.inference_mode(), tracing() as t:
        outs = pafpn(standard_inputs())
    # The finest output is the FPN result unchanged; each bottom-up level adds the augmented level below.
    assert torch.equal(outs[0], t["F2"])
    with torch.inference_mode():
        assert torch.allclose(t["N3"], t["F3"] + pafpn.downsample_convs[0](t["F2"]))
        assert torch.allclose(t["N4"], t["F4"] + pafpn.downsample_convs[1](t["N3"]))
    assert pafpn.output_names == ["F2", "P3", "P4", "P5", "P6"]
    g = pafpn.topology.graph()
    assert set(g.predecessors("N4")) == {"F4", "N3"}


def test_rfp_parameters_match_the_reference():
    rfp = build_neck("rfp", **STANDARD, rfp_steps=2, aspp_out_channels=64)
    assert neck_parameters(rfp) == 3_672_577
    # One 1×1 feedback conv (with bias) per stride-8/16/32 stage of the re-run Lite0: 40, 80, 192 channels.
    feedback = sum(p.numel() for n, p in rfp.named_parameters() if "rfp_conv" in n)
    assert feedback == sum(256 * c + c for c in (40, 80, 192))


def test_rfp_with_reference_init_returns_the_first_pass(chelsea_features):
    rfp = build_neck("rfp")
    inputs = [chelsea_features[n] for n in rfp.input_names]
    with torch.inference_mode(), tracing() as t:
        outs = rfp(inputs)
    # Zero feedback convs → identical backbone rerun; zero gate conv → w = ½ → old and new agree.
    for lvl, out in zip(range(2, 7), outs):
        assert torch.allclose(out, t[f"1.P{lvl}"], atol=1e-5)
        assert torch.allclose(t.extras[f"2.G{lvl}"]["gate"], torch.tensor(0.5))
    assert torch.equal(t["2.C5"], t["C5"])


def test_rfp_random_feedback_changes_the_second_pass(chelsea_features):
    rfp = build_neck("rfp", feedback_init="random")
    inputs = [chelsea_features[n] for n in rfp.input_names]
    with torch.inference_mode(), tracing() as t:
        rfp(inputs)
    assert torch.equal(t["2.C2"], t["C2"])  # stride 4 takes no feedback
    assert not torch.allclose(t["2.C3"], t["C3"])
    gate = t.extras["2.G3"]["gate"]
    assert 0 < float(gate.min()) and float(gate.max()) < 1 and float(gate.std()) > 0
    g = rfp.topology.graph()
    assert set(g.predecessors("2.C4")) == {"2.C3", "2.A4"}
    assert set(g.predecessors("2.G3")) == {"2.P3", "1.P3"}


def test_rfp_second_pass_reads_the_rerun_backbone_in_its_graph():
    topology = build_neck("rfp").topology
    assert [e.source for e in topology.node("1.L3").inputs] == ["C3"]
    assert [e.source for e in topology.node("2.L3").inputs] == ["2.C3"]
    from necklab.graph.receptive_field import PIXELS

    fields = topology.receptive_fields({name: PIXELS for name in topology.inputs})
    # The feedback ASPP's global pooling reaches the fused output only through the rerun backbone.
    assert any(p.rf.size == float("inf") for p in fields["2.G3"])
