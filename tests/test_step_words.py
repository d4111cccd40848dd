"""Words a learner meets while stepping, rendered and checked (issue 16): a merging cell's name
decoded from its cell's data, the quiz's last step, the playground's mutation of an output conv, and
lesson mode on a backbone level of any stride."""
from __future__ import annotations

import random

import pytest
import torch

from necklab.lab.analysis import analyse
from necklab.lab.playground import mutate
from necklab.lab.words import cell_name_words
from necklab.models.cell_design import NAS_FPN, CellSpec, Design
from necklab.models.necks.nasfpn import NASFPN
from necklab.ui.quiz import ask
from necklab.viz.lesson import lesson_step
from necklab.viz.step import narration, node_table
from necklab.widgets.session import Session

GP_64_4 = {"en": "a global-pooling cell that reads levels P6 and P4 and writes level P4",
           "zh": "全局池化单元，读取 P6 和 P4 层级，写入 P4 层级"}


@pytest.fixture(scope="module")
def nasfpn(chelsea):
    return analyse(chelsea, "nasfpn", {"stack_times": 1})


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_cells_name_is_decoded_in_its_narration_and_lesson_step(nasfpn, lang):
    for text in (narration(nasfpn, "s1.gp_64_4", lang), lesson_step(nasfpn, "s1.gp_64_4", lang)):
        assert "`gp_64_4`" in text and GP_64_4[lang] in text
    summed = narration(nasfpn, "s1.sum_34_4", lang)  # reads cell 3 (at P3) and cell 2 (at P4)
    assert ("a sum cell that reads levels P3 and P4 and writes level P4" if lang == "en" else
            "求和单元，读取 P3 和 P4 层级，写入 P4 层级") in summed
    assert cell_name_words(nasfpn.topology, "L4", lang) is None
    lateral = narration(nasfpn, "L4", lang) + lesson_step(nasfpn, "L4", lang)
    assert ("The name" if lang == "en" else "名称") not in lateral


def test_a_playground_designs_names_are_decoded_from_its_cells():
    """A repeated name gets _2; the words come from the cells' levels, whatever the name says."""
    design = Design(tuple(CellSpec(*c) for c in (
        ("sum", "P4", "P3", 3, True), ("sum", "P4", "P3", 3, True), ("gp", "cell 2", "P7", 4, False),
        ("sum", "P5", "P5", 5, True), ("sum", "P6", "P6", 6, True), ("sum", "P7", "P7", 7, True))))
    with torch.device("meta"):
        topology = NASFPN(design=design, stack_times=1).topology
    again = cell_name_words(topology, "s1.sum_43_3_2", "en")
    assert again == ("The name `sum_43_3_2` says: a sum cell that reads levels P4 and P3 and writes level P3; the "
                     "suffix _2 tells it apart from the earlier cells of the same kind in this stage.")
    assert "_2" not in (cell_name_words(topology, "s1.sum_43_3", "en") or "_2")
    assert cell_name_words(topology, "s1.gp_37_4", "zh") == \
        "名称 `gp_37_4` 的含义：全局池化单元，读取 P3 和 P7 层级，写入 P4 层级。"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_quiz_after_the_last_node_says_something_whole(nasfpn, lang):
    said = ask(Session(lang=lang), nasfpn, len(nasfpn.topology.nodes) - 1)
    assert ". ." not in said and "。。" not in said
    assert said.startswith("That was the last node" if lang == "en" else "这是该颈部网络的最后一个节点")


def test_switching_an_output_conv_is_said_plainly():
    said = set()
    for seed in range(60):
        _, words = mutate(NAS_FPN, random.Random(seed), "zh")
        if "3×3 卷积" in words:
            said.add(words)
    assert any("去掉" in w for w in said) and any("加上" in w for w in said)
    assert not any("由有" in w or "由无" in w for w in said)
    english = {mutate(NAS_FPN, random.Random(seed), "en")[1] for seed in range(60)}
    assert not any("yes → no" in w or "no → yes" in w for w in english)
    assert any("conv → BN after the merge is removed" in w for w in english)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_lesson_mode_on_the_finest_level_does_not_call_its_grid_coarse(chelsea, lang):
    analysis = analyse(chelsea, "fpn")
    finest = analysis.topology.nodes[0]  # C2, stride 4: the finest level the neck sees
    text = lesson_step(analysis, finest.id, lang)
    assert "coarse" not in text and "有多粗" not in text
    assert ("neighbouring cells are 4 pixels apart" if lang == "en" else "相邻格子在图片上相隔 4 个像素") in text


def test_the_narration_and_the_table_state_no_factor_that_does_not_hold(nasfpn):
    """On chelsea, P6 is 5×7 and P4 19×29: the cell resizes P6 to P4's size, it is no ↑4."""
    said = narration(nasfpn, "s1.gp_64_4")
    assert "↑4" not in said and "`P6` via ↑ nearest to level 4's size × attention" in said
    row = next(row for row in node_table(nasfpn) if row[1] == "s1.gp_64_4")
    assert row[3].startswith("P6 (↑ nearest to level 4's size × attention)")
    assert "最近邻 ↑ 到层级 4 的尺寸" in narration(nasfpn, "s1.gp_64_4", "zh")
