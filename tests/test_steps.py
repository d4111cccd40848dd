"""The step-through's steps: the opening (inputs, laterals, extra levels made from them) as one step
that can be expanded into a step per node, and the jumps each neck's lesson declares — every jump
lands on a node of the trace of the kind its button names."""
from __future__ import annotations

import pytest

from necklab.graph.steps import Arrival, Steps, arrivals, dilated_taps, opening
from necklab.graph.topology import Move, Op
from necklab.i18n import LANGS, has, t
from necklab.lab.analysis import analyse
from necklab.lessons import lesson_for
from necklab.models.registry import NECKS
from necklab.ui.neck_tab import jump, lesson_text, regroup, render_step, steps_of, tab_view
from necklab.viz.step import narration
from necklab.widgets.session import Session

EN, ZH = Session(), Session(lang="zh")

OPENINGS = {
    "spp": ("C5",), "yolo_spp": ("C5",), "sppf": ("C5",), "aspp": ("C5",),
    "fpn": ("C2", "C3", "C4", "C5", "L2", "L3", "L4", "L5"),
    "pafpn": ("C2", "C3", "C4", "C5", "L2", "L3", "L4", "L5"),
    "nasfpn": ("C2", "C3", "C4", "C5", "L3", "L4", "L5", "P6", "P7"),
    "bifpn": ("C3", "C4", "C5", "P6", "P7"),
    "asff": ("C3", "C4", "C5"),
    "rfp": ("image", "C2", "C3", "C4", "C5", "1.L2", "1.L3", "1.L4", "1.L5"),
}
# Where each jump lands with the default configuration on any picture.
TARGETS = {
    "spp": {"pooling": "bins1"}, "yolo_spp": {"pooling": "pool5"}, "sppf": {"pooling": "pool5_1"},
    "aspp": {"dilated": "rate12"},
    "fpn": {"top_down": "T4"},
    "pafpn": {"top_down": "T4", "bottom_up": "N3"},
    "nasfpn": {"first_cell": "s1.gp_64_4", "stage_boundary": "s2.gp_64_4"},
    "bifpn": {"fused": "c1.P6td"},
    "asff": {"fusion": "A3.fused"},
    "rfp": {"second_pass": "2.A3"},
}


@pytest.fixture(scope="module")
def analyses(chelsea):
    return {name: analyse(chelsea, name) for name in NECKS}


def test_every_neck_is_listed():
    assert set(OPENINGS) == set(TARGETS) == set(NECKS)


@pytest.mark.parametrize("name", sorted(NECKS))
def test_the_opening_is_one_step_and_expands_to_a_step_per_node(analyses, name):
    topology = analyses[name].topology
    order = topology.order
    assert opening(topology) == OPENINGS[name]
    steps, every = Steps.of(topology), Steps.of(topology, every=True)
    assert steps[0] == OPENINGS[name] and all(len(stop) == 1 for stop in steps.stops[1:])
    assert [n for stop in steps.stops for n in stop] == order  # every node once, in execution order
    assert every.stops == tuple((n,) for n in order) and every.last == len(order) - 1
    assert steps.last == len(order) - len(OPENINGS[name])
    assert all(steps.index(n) == 0 for n in OPENINGS[name])
    assert all(steps.index(n) == every.index(n) - len(OPENINGS[name]) + 1 for n in order[len(OPENINGS[name]):])


def test_the_opening_step_shows_all_its_maps_and_says_what_they_are(analyses):
    analysis = analyses["nasfpn"]
    for session in (EN, ZH):
        shown = render_step(analysis, 0, session.lang)
        assert all(f"`{n}`" in shown.narration for n in OPENINGS["nasfpn"])
        assert shown.figure.ndim == 3 and shown.figure.std() > 5 and shown.graph.std() > 5
    assert shown.narration.startswith("**第 0 步，共 63 步 · 颈部网络的起点金字塔**")
    words = lesson_text(analysis, 0, "en")
    assert words.startswith("**Lesson · step 0 of 63**")
    assert "inputs `C2`, `C3`, `C4`, `C5`" in words and "laterals `L3`, `L4`, `L5`" in words
    assert "extra, coarser levels `P6`, `P7`" in words
    assert "`C2`、`C3`、`C4`、`C5`" in lesson_text(analysis, 0, "zh")
    # FPN makes no extra level from the opening (its P6 comes from P5): none is claimed
    assert "extra" not in lesson_text(analyses["fpn"], 0, "en")
    # a step per node: step 0 is C2 alone, as before
    assert render_step(analysis, 0, "en", every=True).narration.startswith("**Step 0 of 71 · `C2`**")


@pytest.mark.parametrize("name", sorted(NECKS))
def test_every_jump_lands_on_its_node_of_the_right_kind(analyses, name):
    analysis = analyses[name]
    topology = analysis.topology
    jumps = lesson_for(name).jumps
    assert {j.key: j.target(topology) for j in jumps} == TARGETS[name]
    for j in jumps:
        node = topology.node(j.target(topology))
        assert node.id in analysis.trace.tensors  # a node the forward pass filled
        assert all(has(f"step.jump.{j.key}") and t(f"step.jump.{j.key}", lang) for lang in LANGS)
        kind = KINDS[j.key]
        assert kind(analysis, node), (name, j.key, node.id)
        for every in (False, True):  # the step it jumps to shows that node alone
            assert steps_of(analysis, every)[jump(j, analysis, every)] == (node.id,)
    assert len(tab_view(analysis, "", "en", jumps).jumps) == len(jumps)


def _first_of_stage(analysis, node, stage):
    return node.stage == stage and next(n for n in analysis.topology.nodes if n.stage == stage).id == node.id


def _strided(node):
    return any(s.move is Move.CONV and s.stride > 1 for e in node.inputs for s in e.steps)


KINDS = {  # what each jump's node must be, checked on the node itself
    "pooling": lambda a, n: n.op in (Op.ADAPTIVE_MAX_POOL, Op.ADAPTIVE_AVG_POOL, Op.MAX_POOL),
    "dilated": lambda a, n: n.op is Op.CONV and any(s.rate > 1 for e in n.inputs for s in e.steps),
    "top_down": lambda a, n: n.op is Op.ADD and any(s.move is Move.UP for e in n.inputs for s in e.steps),
    # PANet's bottom-up path: an add fed by the finer level through a stride-2 conv, after all of FPN
    "bottom_up": lambda a, n: (n.op is Op.ADD and _strided(n) and Arrival.TOP_DOWN not in arrivals(n)
                               and all(a.topology.order.index(m.id) < a.topology.order.index(n.id)
                                       for m in a.topology.nodes if m.id.startswith("F"))),
    "first_cell": lambda a, n: n.op in (Op.GP_CELL, Op.SUM_CELL) and "resized" in a.trace.extras[n.id]
    and _first_of_stage(a, n, 1),
    # a stage boundary: the first cell of stage 2, reading what stage 1 made
    "stage_boundary": lambda a, n: (_first_of_stage(a, n, 2) and n.op in (Op.GP_CELL, Op.SUM_CELL)
                                    and any(a.topology.node(e.source).stage == 1 for e in n.inputs)),
    "fused": lambda a, n: n.op is Op.WEIGHTED_SUM and len(n.inputs) >= 2 and n.stage == 1,
    "fusion": lambda a, n: n.op is Op.WEIGHTED_SUM and len(n.inputs) == 3,
    "second_pass": lambda a, n: _first_of_stage(a, n, 2),
}


def test_a_jump_without_its_part_is_hidden_and_does_nothing(chelsea):
    """NAS-FPN with one stage has no stage boundary: its button is hidden and the jump keeps the step."""
    analysis = analyse(chelsea, "nasfpn", {"stack_times": 1})
    first, boundary = lesson_for("nasfpn").jumps
    assert boundary.target(analysis.topology) is None
    shown = tab_view(analysis, "", "en", lesson_for("nasfpn").jumps)
    assert [b.visible for b in shown.jumps] == [True, False]
    assert not isinstance(jump(boundary, analysis, False), int)  # gr.skip(): the step stays
    assert not isinstance(jump(first, None, False), int)  # nothing run yet


def test_regrouping_keeps_the_node_on_screen(analyses):
    analysis = analyses["pafpn"]
    order = analysis.topology.order
    expanded = regroup(EN, analysis, Steps.of(analysis.topology).index("N4"), True)
    assert order[expanded.value] == "N4" and expanded.maximum == len(order) - 1
    collapsed = regroup(EN, analysis, order.index("N4"), False)
    assert steps_of(analysis)[collapsed.value] == ("N4",) and collapsed.maximum == 14
    assert regroup(EN, analysis, order.index("L3"), False).value == 0  # a node of the opening: its step
    assert regroup(EN, analysis, 0, True).value == 0  # the opening expanded: its first node, C2


def test_dilated_taps_at_the_centre():
    assert dilated_taps(10, 15, 2) == 9 and dilated_taps(10, 15, 6) == 3 and dilated_taps(10, 15, 12) == 1


def test_each_dilated_branch_says_how_many_taps_land_and_why(chelsea):
    """ASPP's step narration (not only lesson mode) says the padding equals the rate and how many of
    the 9 taps land on the 10×15 C5 map at its centre."""
    analysis = analyse(chelsea, "aspp", {"atrous_rates": (2, 6, 12)})
    assert tuple(analysis.trace["C5"].shape[-2:]) == (10, 15)
    said = {rate: narration(analysis, f"rate{rate}", "en") for rate in (2, 6, 12)}
    for rate, text in said.items():
        assert f"padding is {rate} too (padding = rate)" in text and "keeps the 10×15 grid" in text
    assert "all 9 taps land on the map" in said[2]
    assert "only 3 of the 9 taps land on the map" in said[6]
    assert "only the centre tap lands on the map" in said[12]
    zh = narration(analysis, "rate6", "zh")
    assert "填充 = 空洞率" in zh and "9 个采样点中只有 3 个落在图内" in zh
    assert "padding" not in narration(analysis, "b1x1", "en")  # the 1×1 branch is not dilated
