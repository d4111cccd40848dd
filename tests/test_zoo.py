"""Every neck of the registry: reference parameter counts, traces that follow the topology, real
backbone features of a sample picture at three sizes, receptive fields for every output."""
from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from necklab.lab.analysis import analyse, base_receptive_fields, run_backbone
from necklab.lab.imaging import Picture
from necklab.models.registry import NECKS, build_neck, neck_parameters
from tests.conftest import SAMPLES


def resized(name: str, width: int, height: int) -> Picture:
    import numpy as np

    im = Image.open(SAMPLES / name).convert("RGB").resize((width, height))
    return Picture(np.asarray(im).copy(), (width, height), "PNG", 1)


@pytest.mark.parametrize("name", list(NECKS))
def test_reference_configuration_has_the_reference_parameter_count(name):
    spec = NECKS[name]
    neck = build_neck(name, **spec.reference_config)
    assert neck_parameters(neck) == spec.reference_params


@pytest.mark.parametrize("size", [(451, 300), (333, 517), (64, 40)])
@pytest.mark.parametrize("name", list(NECKS))
def test_every_neck_runs_on_real_features(name, size):
    analysis = analyse(resized("chelsea.png", *size), name)
    trace, topology = analysis.trace, analysis.topology
    assert trace.order == topology.order
    for out in topology.outputs:
        t = trace[out]
        assert torch.isfinite(t).all(), out
        node = topology.node(out)
        if node.level is not None and t.dim() == 4:
            w, h = size
            stride = 2 ** node.level
            expected = (math.ceil(h / stride), math.ceil(w / stride))
            if node.level <= 5:  # backbone strides: exactly the backbone's ceil sizes
                assert t.shape[-2:] == expected, out
            else:  # extra levels: NAS-FPN's 2×2 max-pool floors where the others ceil
                assert all(abs(a - b) <= 1 for a, b in zip(t.shape[-2:], expected)), out


@pytest.mark.parametrize("name", list(NECKS))
def test_receptive_fields_reach_every_output(name, chelsea):
    analysis = analyse(chelsea, name)
    fields = analysis.topology.receptive_fields(base_receptive_fields(analysis))
    for out in analysis.topology.outputs:
        assert fields[out], out
        assert all(p.path[-1] == out and p.path[0] in analysis.topology.inputs for p in fields[out])
        assert max(p.rf.size for p in fields[out]) >= run_backbone(chelsea).grids["C3"].rf_size


def test_build_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_neck("fpn", seed=7)
    after = torch.rand(1)
    b = build_neck("fpn", seed=7)
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(next(build_neck("fpn", seed=8).parameters()), next(a.parameters()))


def test_concurrent_builds_and_traces_stay_reproducible(chelsea):
    """Sessions build and trace necks at once: seeded weights and per-node parameters must not mix."""
    from concurrent.futures import ThreadPoolExecutor

    serial = {n: [p.clone() for p in build_neck(n, seed=3).parameters()] for n in ("nasfpn", "fpn")}
    with ThreadPoolExecutor(4) as pool:
        built = list(pool.map(lambda n: (n, build_neck(n, seed=3)), ["nasfpn", "fpn"] * 3))
    for name, neck in built:
        assert all(torch.equal(a, b) for a, b in zip(serial[name], neck.parameters())), name
    with ThreadPoolExecutor(3) as pool:
        analyses = list(pool.map(lambda n: analyse(chelsea, n), ["nasfpn", "pafpn", "nasfpn"]))
    for a in analyses:
        assert sum(a.node_params.values()) == a.params


def test_rfp_credits_each_rerun_level_with_its_own_stages(chelsea):
    params = analyse(chelsea, "rfp").node_params
    assert all(params[f"2.C{lvl}"] > 0 for lvl in range(2, 6))
    assert params["2.C5"] > params["2.C3"]


def test_grids_above_c5_follow_the_neck(chelsea):
    c5 = run_backbone(chelsea).grids["C5"]
    fpn, nas = analyse(chelsea, "fpn").grid(6), analyse(chelsea, "nasfpn").grid(6)
    assert fpn.jump == nas.jump == 2 * c5.jump
    assert (fpn.start_y, fpn.start_x) == (c5.start_y, c5.start_x)  # kernel-1 pool: same centres
    # NAS-FPN's unpadded 2×2 pool centres each P6 cell between two C5 cells: half a C5 jump further.
    assert (nas.start_y, nas.start_x) == (c5.start_y + c5.jump / 2, c5.start_x + c5.jump / 2)
