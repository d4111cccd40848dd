"""Predict-the-shape: lenient answers, a rule for every op kind that derives the traced shape of
every node of the zoo (so an explanation never contradicts its answer), and the quiz's handlers."""
from __future__ import annotations

import re
from collections import defaultdict

import gradio as gr
import pytest

from necklab.graph.steps import Steps
from necklab.graph.topology import Rule
from necklab.i18n import LANGS, strings
from necklab.lab.analysis import analyse
from necklab.lab.shape_rules import check, explain, parse_shape, question
from necklab.lab.words import edge_label
from necklab.models.registry import NECKS
from necklab.ui.quiz import TEXT as QUIZ_TEXT
from necklab.ui.quiz import Score, Scored, answer, ask, reset
from necklab.widgets.session import Session

EN, ZH = Session(), Session(lang="zh")

# Every neck at its defaults, plus settings that bring other rules into play: 3×3 s2 extra convs,
# a second SPP pooling, three BiFPN cells, random Recursive-FPN feedback.
CASES = [(name, {}) for name in NECKS] + [
    ("fpn", {"add_extra_convs": "on_input"}), ("pafpn", {"add_extra_convs": "on_output", "num_outs": 6}),
    ("spp", {"pool": "avg", "levels": (1, 3)}), ("nasfpn", {"stack_times": 2}),
]


@pytest.fixture(scope="module")
def analyses(chelsea):
    return [(name, analyse(chelsea, name, config)) for name, config in CASES]


@pytest.fixture(scope="module")
def explained(analyses):
    """kind → [(neck, node, explanation, traced shape)] over the zoo on chelsea (451×300: odd sizes)."""
    found = defaultdict(list)
    for name, analysis in analyses:
        for node in analysis.topology.nodes:
            e = explain(analysis, node.id)
            found[e.kind].append((name, node.id, e, tuple(analysis.trace[node.id].shape[1:])))
    return found


# Two English words in a row, outside `code` (node names) — what a sentence left in English shows.
ENGLISH = re.compile(r"[A-Za-z]{3,}[ ,;:]+[A-Za-z]{3,}")


def _prose(text: str) -> str:
    return re.sub(r"`[^`]*`", "", text)


@pytest.mark.parametrize("typed, shape", [
    ("256x64x64", (256, 64, 64)), ("256 × 64 × 64", (256, 64, 64)), ("256,64,64", (256, 64, 64)),
    ("(256, 64, 64)", (256, 64, 64)), (" 256 X 64*64 ", (256, 64, 64)), ("256 64 64", (256, 64, 64)),
    ("6720", (6720,)), ("256x64x", None), ("", None), ("64.5x3x3", None), ("sixty-four", None), ("-3x4x4", None),
])
def test_answers_are_read_leniently(typed, shape):
    assert parse_shape(typed) == shape


def test_every_kind_derives_the_traced_shape_of_every_node(explained):
    assert set(explained) == set(Rule)
    for kind, cases in explained.items():
        for neck, node, e, traced in cases:
            assert e.shape == traced, (kind, neck, node, e.text)
            assert e.text.endswith(f"**{'×'.join(map(str, traced))}**"), (neck, node)


def _one(explained, kind, neck, node):
    return next(e for n, nid, e, _ in explained[kind] if n == neck and nid == node)


def test_each_kind_states_its_rule_with_the_nodes_numbers(explained):
    backbone = _one(explained, "backbone", "fpn", "C4")
    assert "⌈300/16⌉ = 19" in backbone.text and "⌈451/16⌉ = 29" in backbone.text and "112" in backbone.text
    lateral = _one(explained, "lateral", "fpn", "L3")
    assert "1×1" in lateral.text and "38×57" in lateral.text and "width, 64" in lateral.text
    conv = _one(explained, "conv", "aspp", "rate24")
    assert "keeps 10×15" in conv.text and "256 (from 320)" in conv.text
    up = _one(explained, "resample", "fpn", "P6")  # max-pool 1×1 s2 on P5 (10×15)
    assert "⌊(15 + 2·0 − 1)/2⌋ + 1 = 8, ÷2 rounding up" in up.text and "C stays 64" in up.text
    down = _one(explained, "resample", "nasfpn", "P6")  # NAS-FPN's unpadded 2×2 pool rounds down
    assert "= 7, ÷2 rounding down" in down.text and down.shape == (64, 5, 7)
    asff = _one(explained, "resample", "asff", "A4.from3")
    assert "3×3 stride 2 (pad 1)" in asff.text and "becomes 112" in asff.text
    pool = _one(explained, "pool", "yolo_spp", next(n for k, n, _, _ in explained["pool"] if k == "yolo_spp"))
    assert "stride 1 with padding ⌊k/2⌋ keeps H×W" in pool.text
    bins = _one(explained, "bins", "spp", "bins4")
    assert "fixed 4×4 grid" in bins.text and bins.shape == (320, 4, 4)
    add = _one(explained, "sum", "pafpn", "N4")
    assert "level 4's size 19×29" in add.text and "keeps that shape" in add.text
    gp = _one(explained, "sum", "nasfpn", "s1.gp_43_5")
    assert "one weight per channel" in gp.text and gp.shape == (64, 10, 15)
    gate = _one(explained, "sum", "rfp", "2.G3")
    assert "w·new + (1 − w)·old" in gate.text
    concat = _one(explained, "concat", "aspp", "concat")
    assert "256 + 256 + 256 + 256 + 256 = 1280" in concat.text
    vector = _one(explained, "concat", "spp", "vector")
    assert "320·1·1 + 320·2·2 + 320·4·4 = 6720" in vector.text and vector.shape == (6720,)
    pooling = _one(explained, Rule.IMAGE_POOLING, "aspp", "pool")
    assert "one 1×1 cell" in pooling.text and "back to the input's 10×15" in pooling.text


def test_the_question_never_gives_the_answer_away(chelsea):
    analysis = analyse(chelsea, "pafpn")
    for node in analysis.topology.order[4:]:
        shape = "×".join(map(str, analysis.trace[node].shape[1:]))
        asked = question(analysis, node)
        own = asked.split(" from ")[0]
        assert f"`{node}`" in own and shape not in own
    assert "strides 2/4/8/16/32 have 16, 24, 40, 112, 320 channels" in question(analysis, "C2")


# An input as the question states it: "`source` C×H×W via <edge>"; a stated factor: ↑4, ↓2.
ASKED_INPUT = re.compile(r"`([^`]+)` \d+(?:×\d+)* via ([^;]*)")
FACTOR = re.compile(r"([↑↓])(\d+)")


def test_no_question_states_a_factor_that_does_not_hold(analyses):
    """On chelsea's odd sizes (P6 5×7 → P4 19×29 is no ↑4) a resize is worded as what it does."""
    inputs = 0
    for name, analysis in analyses:
        for node in analysis.topology.order:
            target = tuple(analysis.trace[node].shape[2:])
            for source, op in ASKED_INPUT.findall(question(analysis, node)):
                inputs += 1
                size = tuple(analysis.trace[source].shape[2:])
                for arrow, f in FACTOR.findall(op):
                    exact = [a * int(f) for a in size] if arrow == "↑" else [b * int(f) for b in target]
                    assert exact == list(target if arrow == "↑" else size), (name, node, source, op)
    nasfpn = dict(analyses)["nasfpn"]
    assert inputs > 400 and FACTOR.findall(edge_label(nasfpn.topology.node("s1.gp_64_4").inputs[0])) == [("↑", "4")]
    gp = question(nasfpn, "s1.gp_64_4")
    assert "↑4" not in gp and "`P6` 64×5×7 via ↑ nearest to level 4's size × attention" in gp
    assert "19×29" not in gp.split("`L4`")[0]  # the answer's H×W is not given away
    assert "via 1×1 conv+BN, max-pool 2×2 s2" in question(nasfpn, "P6")  # a new level: the pool's window
    assert "最大池化 ↓ 到层级 4 的尺寸" in question(nasfpn, "s1.sum_34_4", "zh")


def test_check_against_the_trace(chelsea):
    analysis = analyse(chelsea, "pafpn")
    assert check(analysis, "N4", "64 x 19 x 29").right
    wrong = check(analysis, "N4", "64x38x57")
    assert not wrong.right and wrong.answer == (64, 19, 29) and wrong.given == (64, 38, 57)
    assert wrong.explanation.kind == "sum"


def test_the_quiz_scores_explains_reveals_and_resets(chelsea):
    analysis = analyse(chelsea, "pafpn")
    steps = Steps.of(analysis.topology)
    k = steps.index("T4") - 1
    assert k == 0  # the opening (C2…C5, L2…L5) is step 0: its question is the first merge
    assert ask(EN, analysis, k).startswith("**Step 1: `T4`**")
    every = analysis.topology.order.index("T4") - 1  # a step per node: T4 is the 9th
    assert ask(EN, analysis, every, every=True).startswith("**Step 8: `T4`**")
    assert answer(EN, analysis, every, "64×19×29", Score(), every=True).step == every + 1
    right = answer(EN, analysis, k, "64×19×29", Score())
    assert right.feedback.startswith("**Right") and right.step == k + 1 and right.typed == ""
    assert "**1 of 1**" in right.score_text
    wrong = answer(EN, analysis, k + 1, "64x19x29", right.score)  # T3 is 64×38×57
    feedback, score = wrong.feedback, wrong.score
    assert feedback.startswith("**Not quite") and "64×38×57" in feedback and "level 3's size 38×57" in feedback
    assert "**1 of 2**" in wrong.score_text and wrong.step == k + 2
    again = answer(EN, analysis, k + 1, "64x38x57", score)  # stepped back: the same question scores once
    assert "not scored again" in again.feedback and again.score == score
    unread = answer(EN, analysis, k + 2, "lots", score)
    assert unread.feedback == QUIZ_TEXT["unreadable"] and unread.score == score and unread.step == k + 2
    end = answer(EN, analysis, steps.last, "1x1x1", score)
    assert "last node" in end.feedback and end.score == score
    assert reset(EN) == Scored("", Score(), "Score in this lesson: no answers yet")
    with pytest.raises(gr.Error):
        answer(EN, None, 0, "1x2x3", Score())



def test_the_rules_are_data_in_every_language():
    en = strings("en")
    keys = [k for k in en if k.startswith(("quiz.rule.", "quiz.what."))]
    assert len(keys) > 25 and "quiz.rule.image_pooling" in keys and "quiz.what.gp_cell" in keys
    for lang in LANGS[1:]:
        assert all(k in strings(lang) for k in keys)


def test_every_rule_and_question_in_chinese(analyses):
    """Every node of the zoo: the zh explanation derives the same shape, is Chinese, and keeps no
    English sentence; the zh question too (edge ops such as "1×1 conv" are notation, kept)."""
    for name, analysis in analyses:
        for node in analysis.topology.nodes:
            en, zh = explain(analysis, node.id), explain(analysis, node.id, "zh")
            assert zh.shape == en.shape and zh.kind == en.kind and ENGLISH.search(_prose(en.text))  # the check bites
            assert zh.text.endswith(en.text[en.text.rindex("→"):]), (name, node.id, zh.text)
            assert re.search(r"[\u4e00-\u9fff]", zh.text), (name, node.id)
            assert not ENGLISH.search(_prose(zh.text)), (name, node.id, zh.text)
            asked = question(analysis, node.id, "zh")
            assert asked.endswith("它的 C×H×W 是多少？") and "What" not in asked and " from " not in asked
    gp = explain(dict(analyses)["nasfpn"], "s1.gp_43_5", "zh").text
    assert "全局池化单元" in gp and "注意力" in gp
    down = explain(dict(analyses)["nasfpn"], "P6", "zh").text
    assert "2×2 步长 2（填充 0）" in down and "÷2 向下取整" in down


def test_the_quiz_speaks_chinese(chelsea):
    analysis = analyse(chelsea, "pafpn")
    k = Steps.of(analysis.topology).index("T3") - 1
    asked = ask(ZH, analysis, k)
    assert asked.startswith(f"**第 {k + 1} 步：`T3`**（相加），输入：") and "What is" not in asked
    wrong = answer(ZH, analysis, k, "64x19x29", Score())
    feedback, text, step = wrong.feedback, wrong.score_text, wrong.step
    assert feedback.startswith("**不对：你输入的是 64×19×29，`T3` 是 64×38×57。**")
    assert "相加节点逐位置把输入相加" in feedback and "层级 3 的尺寸 38×57" in feedback
    assert "最近邻上采样" in feedback
    assert not ENGLISH.search(_prose(feedback)), feedback
    assert "adds its inputs" not in feedback and text == "本课得分：**1 题答对 0 题**" and step == k + 1
    right = answer(ZH, analysis, k, "64x38x57", Score()).feedback
    assert right.startswith("**正确：64×38×57。**") and "逐位置" in right
