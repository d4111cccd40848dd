"""Every neck of the registry: reference parameter counts, traces that follow the topology, real
backbone features of a sample picture at three sizes, receptive fields for every output."""
from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from necks.analysis import analyse, base_receptive_fields, run_backbone
from necks.imaging import Picture
from necks.registry import NECKS, build_neck, neck_parameters
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
