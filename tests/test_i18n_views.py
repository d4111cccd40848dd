"""Words and figures in Chinese: every character of the Chinese data has a glyph in the shipped
font, Chinese figures render without missing-glyph warnings, node notes and lessons translate for
every neck of the zoo."""
from __future__ import annotations

import re
import warnings

import pytest
from fontTools.ttLib import TTFont
from matplotlib import font_manager

from necklab.i18n import strings, t
from necklab.lab.analysis import analyse, run_backbone
from necklab.lab.words import note_words, weights_words
from necklab.models.registry import NECKS
from necklab.viz import CJK_FONT
from necklab.viz.graph import GraphPicture
from necklab.viz.lesson import guidance, lesson_step
from necklab.viz.maps import channels_sheet, levels_sheet
from necklab.viz.render import figure_image
from necklab.viz.step import narration, opening_sheet, step_figure, step_sheet
from necklab.widgets.session import Session
from tests.conftest import SAMPLES, upload

ZH = Session(lang="zh")

CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
SAMPLE = SAMPLES / "chelsea.png"


def test_every_chinese_character_has_a_glyph():
    cjk = TTFont(CJK_FONT).getBestCmap()
    latin = TTFont(font_manager.findfont("DejaVu Sans")).getBestCmap()
    text = "".join(strings("zh").values())
    missing = sorted({c for c in text if not c.isspace() and ord(c) not in cjk and ord(c) not in latin})
    assert not missing, f"run scripts/make_cjk_font.py: no glyph for {missing}"
    assert sum(ord(c) in cjk for c in set(text) if CJK.match(c)) > 400


def rendered_without_missing_glyphs(fig) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        figure_image(fig)
    assert not [w for w in caught if "missing" in str(w.message).lower()], [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def pafpn(chelsea):
    return analyse(chelsea, "pafpn")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_character_of_the_screens_map_sheets_has_a_glyph(chelsea, pafpn, lang):
    """Sheets draw their words with the shipped font alone (no per-glyph fallback as in matplotlib)."""
    backbone = run_backbone(chelsea)
    sheets = [levels_sheet(chelsea, backbone, lang), channels_sheet(backbone.features["C4"], "C4", lang=lang),
              step_sheet(pafpn, "N4", lang=lang), opening_sheet(pafpn, ["C3", "C4", "C5", "L3", "L4", "L5"], lang)]
    glyphs = TTFont(CJK_FONT).getBestCmap()
    drawn = "".join(word for sheet in sheets for word in sheet.words)
    assert "N4" in drawn and "C4" in drawn
    missing = sorted({c for c in drawn if not c.isspace() and ord(c) not in glyphs})
    assert not missing, f"run scripts/make_cjk_font.py: no glyph for {missing}"


def test_chinese_figures_have_every_glyph(chelsea, pafpn):
    rendered_without_missing_glyphs(step_figure(pafpn, "N4", lang="zh"))
    graph = GraphPicture(pafpn.topology, pafpn.trace.tensors, lang="zh")
    rendered_without_missing_glyphs(graph.figure("N4", t("neck.graph_title", "zh", name="PAFPN", k=16, node="N4",
                                                                weights=weights_words(pafpn.weights, "zh"))))


def test_narration_follows_the_language(pafpn):
    zh, en = narration(pafpn, "N4", "zh"), narration(pafpn, "N4", "en")
    assert zh.startswith("**第 16 步，共 21 步 · `N4`**") and en.startswith("**Step 16 of 21 · `N4`**")
    assert "自底向上：对层级 3 做 3×3 步长 2 卷积，加到特征金字塔网络的层级 4 上。" in zh
    assert "Bottom-up: a 3×3 stride-2 conv of level 3 added to the FPN level 4." in en


@pytest.mark.parametrize("name", list(NECKS))
def test_every_node_note_and_op_has_words_in_chinese(chelsea, name):
    analysis = analyse(chelsea, name)
    for node in analysis.topology.nodes:
        assert node.note is not None and CJK.search(note_words(node.note, "zh")), (name, node.note)
        assert guidance(analysis, node, "en")[0] != "lesson.op.other", (name, node.op)
    last = analysis.topology.order[-1]
    for lang in ("en", "zh"):
        text = lesson_step(analysis, last, lang)
        assert t(f"lesson.idea.{name}", lang) in text and NECKS[name].paper in text
    first = lesson_step(analysis, analysis.topology.order[0], "zh")
    assert "看这里" in first and t(f"lesson.idea.{name}", "zh") not in first


def no_missing_glyphs(draw, *args, **kwargs):
    """Run a view (which rasterises its figures) and assert matplotlib found every glyph."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = draw(*args, **kwargs)
    assert not [w for w in caught if "missing" in str(w.message).lower()], [str(w.message) for w in caught]
    return result


@pytest.mark.slow
def test_every_lesson_panel_draws_in_chinese(chelsea):
    from necklab.lessons import asff as asff_panel
    from necklab.lessons import aspp, nasfpn, panet, spp
    from necklab.lessons import bifpn as bifpn_panel
    from necklab.lessons import rfp as rfp_panel

    no_missing_glyphs(spp.spp_views, ZH, analyse(chelsea, "spp"))
    no_missing_glyphs(spp.window_rules, ZH, 5, "1, 2, 3, 4")
    no_missing_glyphs(aspp.aspp_views, ZH, analyse(chelsea, "aspp", {"atrous_rates": (6, 12)}), None)
    no_missing_glyphs(panet.panet_views, ZH, analyse(chelsea, "pafpn"))
    nas = analyse(chelsea, "nasfpn", {"stack_times": 1})
    assert no_missing_glyphs(nasfpn.stage_list, ZH, nas).cells[0][2] in ("全局池化", "求和")
    no_missing_glyphs(nasfpn.cell_view, ZH, nas, 0)
    no_missing_glyphs(bifpn_panel.panel_views, ZH, analyse(chelsea, "bifpn", {"stack_times": 1}), {}, None, None)
    no_missing_glyphs(asff_panel.asff_views, ZH, analyse(chelsea, "asff"), None)
    no_missing_glyphs(rfp_panel.rfp_views, ZH, analyse(chelsea, "rfp", {"feedback_init": "random"}))


def test_handlers_answer_in_the_session_language(chelsea, tmp_path):
    import gradio as gr

    import app
    from necklab.lab.analysis import keep_picture
    from necklab.ui.neck_tab import run_neck

    specs = app.tab_groups()["ASPP"]
    session = Session(picture=keep_picture(chelsea), device="cpu", lang="zh")
    with pytest.raises(gr.Error, match="空洞率：每个数只能出现一次"):
        run_neck(specs, session, "ASPP", "6, 6", 64)
    with pytest.raises(gr.Error, match="请先分析一张图片"):
        run_neck(specs, ZH, "ASPP", "6", 64)
    shown = run_neck(specs, session, "ASPP", "6, 12", 64)
    summary, words, table, lesson = shown.summary, shown.narration, shown.table, shown.lesson
    assert "参数量" in summary and words.startswith("**第 0 步，共 6 步") and lesson.startswith("**课程 · 第 0 步")
    assert table[2][2] == "卷积" and table[4][2] == "图像池化"
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(gr.Error, match="文件为空"):
        app.analyze(Session(), upload(empty), "cpu", "C3", "zh")
    analyzed = app.analyze(Session(), upload(SAMPLE), "cpu", "C3", "zh")
    assert analyzed.status.startswith("分析尺寸 451×300 像素") and "主干网络" in analyzed.status
    assert analyzed.session.lang == "zh"  # the API's language becomes the session's
