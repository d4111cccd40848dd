"""Lesson mode never teaches something false: for every node of every neck (its tab's default
configuration and two others), what the lesson text claims about how the node's inputs arrive is
checked against the graph's edges and the model's own layers — an upsampled coarser level only where
one is upsampled, a finer level shrunk by a strided layer only where one is, a dilated kernel's
padding and how many of its taps land on the map only as the conv and the map really have them."""
from __future__ import annotations

import re

import numpy as np
import pytest

from necklab.graph.topology import Move
from necklab.i18n import t
from necklab.lab.analysis import analyse, neck_on
from necklab.lab.imaging import decode
from necklab.models.registry import NECKS
from necklab.viz.lesson import lesson_step
from tests.conftest import SAMPLES

OTHER_CONFIGS = {
    "spp": [{"levels": (1, 3)}, {"pool": "avg"}],
    "yolo_spp": [{"kernel_sizes": (3, 7)}, {"kernel_sizes": (5,)}],
    "sppf": [{"kernel_size": 3}, {"kernel_size": 9}],
    "aspp": [{"atrous_rates": (2, 4, 6)}, {"atrous_rates": (1, 5, 40)}],
    "fpn": [{"add_extra_convs": "on_input"}, {"num_outs": 6}],
    "pafpn": [{"add_extra_convs": "on_output"}, {"num_outs": 4}],
    "nasfpn": [{"stack_times": 1}, {"stack_times": 2, "out_channels": 32}],
    "bifpn": [{"stack_times": 1}, {"stack_times": 2, "out_channels": 32}],
    "asff": [],
    "rfp": [{"feedback_init": "random"}, {"rfp_steps": 3}],
}
TOPDOWN = t("lesson.op.add_topdown", "en")
BOTTOMUP = t("lesson.op.add_bottomup", "en", how="").split(",")[0]  # "the bottom-up merge: … below"
DILATED = re.compile(r"its 9 taps are (\d+) cells apart, and a padding of (\d+) keeps the grid at (\d+)×(\d+)")
TAPS = re.compile(r"only (\d+) of the 9 taps|all 9 taps|only the centre tap")


def cases():
    for name in NECKS:
        for config in [{}, *OTHER_CONFIGS.get(name, [])]:
            yield pytest.param(name, config, id=f"{name}-{config}")


@pytest.fixture(scope="module")
def picture():
    return decode(SAMPLES / "chelsea.png")


def taps_on_map(h: int, w: int, rate: int) -> int:
    """Counted on a grid, not by the formula the app uses."""
    hit = np.zeros((h, w), bool)
    for dy in (-rate, 0, rate):
        for dx in (-rate, 0, rate):
            y, x = h // 2 + dy, w // 2 + dx
            if 0 <= y < h and 0 <= x < w:
                hit[y, x] = True
    return int(hit.sum())


@pytest.mark.parametrize("name, config", list(cases()))
def test_every_lesson_text_is_true_of_its_node(picture, name, config):
    analysis = analyse(picture, name, config)
    topology = analysis.topology
    for node in topology.nodes:
        text = lesson_step(analysis, node.id, "en")
        zh = lesson_step(analysis, node.id, "zh")
        assert "the highlighted node and the edges" not in text, (name, node.id, "no guidance of its own")
        ups = [e for e in node.inputs if any(s.move is Move.UP for s in e.steps)]
        if TOPDOWN in text:
            assert ups and all(topology.node(e.source).level > node.level for e in ups), (name, node.id)
            assert t("lesson.op.add_topdown", "zh") in zh
        shrunk = [e for e in node.inputs if any(s.move is Move.DOWN or (s.move in (Move.CONV, Move.MAX_POOL)
                                                                         and s.stride > 1) for s in e.steps)]
        if BOTTOMUP in text:
            assert not ups and shrunk, (name, node.id)
            assert all(topology.node(e.source).level < node.level for e in shrunk), (name, node.id)
        if not ups:
            assert "upsampl" not in text and "上采样" not in zh, (name, node.id)
        if "brought down to this output level's grid" in text:
            assert shrunk and all(topology.node(e.source).level < node.level for e in shrunk), (name, node.id)
        found = DILATED.search(text)
        if found:
            r, pad, h, w = map(int, found.groups())
            edge = node.inputs[0]
            assert [s.rate for s in edge.steps if s.move is Move.CONV] == [r]
            assert tuple(analysis.trace[edge.source].shape[-2:]) == (h, w) == tuple(analysis.trace[node.id].shape[-2:])
            neck = neck_on(name, analysis.config, analysis.device, analysis.seed)
            conv = next(m for m in neck.modules() if getattr(m, "dilation", None) == (r, r))
            assert conv.padding == (pad, pad)  # the model pads by the rate, as the text says
            claimed = TAPS.search(text)
            assert claimed is not None
            inside = taps_on_map(h, w, r)
            expected = "all 9 taps" if inside == 9 else "only the centre tap" if inside == 1 else f"only {inside} of"
            assert expected in claimed.group(0), (name, node.id, claimed.group(0), inside)


def test_panet_bottom_up_steps_say_bottom_up(picture):
    """The bug this guards against: every add got the top-down text, so PANet's key step (N4, the
    bottom-up path) told learners to look for an upsampled coarser level."""
    analysis = analyse(picture, "pafpn")
    for node in ("N3", "N4", "N5"):
        text = lesson_step(analysis, node, "en")
        assert BOTTOMUP in text and "3×3 s2 conv" in text and TOPDOWN not in text
        zh = lesson_step(analysis, node, "zh")
        assert "自底向上" in zh and "上采样" not in zh
    assert TOPDOWN in lesson_step(analysis, "T4", "en")


def test_aspp_default_rates_on_a_small_map_say_the_branch_sees_its_centre_only(picture):
    analysis = analyse(picture, "aspp")  # C5 is 10×15: rates 12, 24 and 36 reach off the map
    for rate in (12, 24, 36):
        assert "only the centre tap" in lesson_step(analysis, f"rate{rate}", "en")
    small = analyse(picture, "aspp", {"atrous_rates": (2, 4, 6)})
    assert "all 9 taps" in lesson_step(small, "rate2", "en")
    assert "只有中心采样点" in lesson_step(analysis, "rate12", "zh")
