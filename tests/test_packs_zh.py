"""Figure packs, the CLI and the notebook API in Chinese: a PANet pack's lesson.md (a lesson plan,
its sections in order, its quiz answers those of the trace), shapes table and figures (16:9 slides,
SVG words kept as Chinese text) are in Chinese with every glyph drawn, no sentence of the English
pack is left in it, the CLI's `--lang zh` writes a Chinese pack (help, progress and errors in
Chinese too), and a Chinese `Lab` narrates, explains and reports errors in Chinese."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from string import Formatter
from xml.etree import ElementTree

import pytest
from PIL import Image

from necklab.api import analyse_picture
from necklab.cli.render import main as render_main
from necklab.i18n import strings, t
from necklab.lab.analysis import analyse
from necklab.lab.words import weights_words
from necklab.lessons import lesson_figures
from necklab.models.registry import NECKS
from necklab.pack.write import lesson_markdown, write_pack
from necklab.viz.slide import SLIDE_DPI, SLIDE_PX
from necklab.viz.step import NODE_TABLE_HEADERS, node_table_headers
from tests.conftest import SAMPLES

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u3400-\u9fff]")
SVG_TEXT = "{http://www.w3.org/2000/svg}text"
# One step of each kind: the input, a lateral, a top-down add, a conv, a bottom-up add, the extra level
STEPS = ["C2", "L2", "T4", "F2", "N3", "P6"]
# The plan's sections, in the order lesson.md gives them
SECTIONS = ["pack.plan.key_idea", "pack.plan.figure", "pack.graph", "pack.plan.steps", "pack.plan.quiz",
            "pack.plan.answers", "pack.plan.try", "pack.picture", "pack.panel", "pack.shapes"]


def english_fragments(text: str) -> set[str]:
    """The English phrases of a text (runs of two or more words), e.g. 'Parameters of this op'."""
    phrases = re.findall(r"[A-Za-z][A-Za-z'’-]+(?: [A-Za-z][A-Za-z'’-]*)+", text)
    return {p for p in phrases if len(p) >= 8}


def english_words_of(prefixes: tuple[str, ...]) -> set[str]:
    """The English phrases of the language file's literal text under these key prefixes."""
    literals = (literal for key, text in strings("en").items() if key.startswith(prefixes)
                for literal, *_ in Formatter().parse(text))
    return set().union(*(english_fragments(literal) for literal in literals))


@pytest.fixture(scope="module")
def pafpn(chelsea):
    return analyse(chelsea, "pafpn")


@pytest.fixture(scope="module")
def zh_pack(pafpn, tmp_path_factory):
    """A Chinese PANet pack, written while recording every warning (missing glyphs among them)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        folder = write_pack(pafpn, tmp_path_factory.mktemp("zh") / "pafpn", lang="zh", picture_name="chelsea.png",
                            zip=False)
    return folder, [str(w.message) for w in caught]


@pytest.mark.slow
def test_the_chinese_lesson_page_is_chinese(pafpn, zh_pack):
    folder, _ = zh_pack
    lesson = (folder / "lesson.md").read_text(encoding="utf-8")
    assert t("lesson.idea.pafpn", "zh") in lesson
    assert lesson.startswith("# PANet (PAFPN)：chelsea.png\n")
    headings = [lesson.index(f"\n{t(key, 'zh')}\n") for key in SECTIONS]
    assert headings == sorted(headings), "the lesson plan's sections are out of order"
    key_idea, figure, graph = headings[:3]
    assert key_idea < lesson.index(t("lesson.idea.pafpn", "zh")) < figure < lesson.index("panet-paths.png") < graph
    assert "**第 15 步，共 21 步 · `N3`**" in lesson  # a step's narration
    assert "**第 16 步，共 21 步 · `N4`**" not in lesson  # another bottom-up add: one step per kind
    assert "主干网络看到了什么（它的 ImageNet 前 5 类）：埃及猫 " in lesson  # the top-5, named in Chinese
    assert "| " + " | ".join(node_table_headers("zh")) + " |" in lesson
    assert len(CJK.findall(lesson)) > 300


def section(lesson: str, key: str, lang: str = "zh") -> str:
    """The text under a heading of lesson.md, up to the next heading."""
    start = lesson.index(f"\n{t(key, lang)}\n") + len(t(key, lang)) + 2
    return lesson[start:lesson.index("\n#", start)]


@pytest.mark.slow
def test_the_quiz_in_the_lesson_plan_has_the_traces_answers(pafpn, zh_pack):
    folder, _ = zh_pack
    lesson = (folder / "lesson.md").read_text(encoding="utf-8")
    questions = re.findall(r"^\d+\. \*\*第 \d+ 步：`([^`]+)`\*\*", section(lesson, "pack.plan.quiz"), re.M)
    answers = re.findall(r"^\d+\. `([^`]+)`：.*→ \*\*([\d×]+)\*\*$", section(lesson, "pack.plan.answers"), re.M)
    assert questions == [node for node, _ in answers] == ["C5", "L5", "N5", "P5", "P6"]  # one per rule, its last node
    for node, shape in answers:
        assert shape == "×".join(map(str, pafpn.trace[node].shape[1:])), node
    live = section(lesson, "pack.plan.try")
    assert t("pack.try.out_channels", "zh") in live and "**输出通道数**（这里是 64）" in live


@pytest.mark.slow
def test_no_english_sentence_of_the_english_pack_is_left(pafpn, zh_pack):
    folder, _ = zh_pack
    lesson = (folder / "lesson.md").read_text(encoding="utf-8")
    english = lesson_markdown(pafpn, lesson_figures(pafpn, lang="en"), "chelsea.png", "en")
    # The English page's phrases, less the paper's title, which a citation keeps in every language.
    phrases = english_fragments(english) - english_fragments(NECKS["pafpn"].paper)
    assert "One step of each kind" in phrases and "Parameters of this op" in phrases  # it sees the page's words
    left = sorted(p for p in phrases | english_words_of(("pack.", "step.", "caption.", "quiz.", "lesson."))
                  if p in lesson)
    assert not left, left


@pytest.mark.slow
def test_the_chinese_figures_are_drawn_with_every_glyph(pafpn, zh_pack):
    folder, caught = zh_pack
    assert not [m for m in caught if "missing" in m.lower()], caught
    figures = lesson_figures(pafpn, lang="zh")
    steps = [f"step-{pafpn.topology.order.index(n):03d}-{n}" for n in STEPS]
    assert [f.name for f in figures] == ["graph", *steps, "panet-paths", "panet-compare"]
    for figure in figures:
        assert CJK.search(figure.caption), figure.caption
        with Image.open(folder / "figures" / f"{figure.name}.png") as png:  # a full 16:9 slide
            assert png.size == SLIDE_PX and png.info["dpi"] == pytest.approx((SLIDE_DPI, SLIDE_DPI), abs=0.01)
        # the SVG's words are text a slide tool can edit, naming the shipped CJK font
        svg = (folder / "figures" / f"{figure.name}.svg").read_text(encoding="utf-8")
        words = ["".join(e.itertext()) for e in ElementTree.fromstring(svg).iter(SVG_TEXT)]
        assert any(CJK.search(w) for w in words), figure.name
        assert "'NeckLab Sans SC'" in svg and "sans-serif" in svg


@pytest.mark.slow
def test_the_chinese_shapes_table_keeps_its_json_keys(pafpn, zh_pack):
    folder, _ = zh_pack
    with open(folder / "shapes.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == node_table_headers("zh") != NODE_TABLE_HEADERS
    assert [r[1] for r in rows[1:]] == pafpn.topology.order
    records = json.loads((folder / "shapes.json").read_text(encoding="utf-8"))
    assert list(records[0]) == [*NODE_TABLE_HEADERS, "inputs", "shape"]  # programs parse these keys
    assert records[0]["op"] == "input" and rows[1][2] == t("op.input", "zh")


@pytest.mark.slow
def test_the_cli_writes_a_chinese_pack(tmp_path):
    out = tmp_path / "spp"
    run = subprocess.run([sys.executable, "-m", "necklab.cli.render", str(SAMPLES / "chelsea.png"), "--neck", "spp",
                          "--out", str(out), "--config", "levels=1", "--lang", "zh", "--zip"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    lesson = (out / "lesson.md").read_text(encoding="utf-8")
    assert lesson.startswith("# SPP-net：chelsea.png\n") and t("lesson.idea.spp", "zh") in lesson
    assert "**第 2 步，共 2 步 · `vector`**" in lesson and "Step by step" not in lesson
    assert t("pack.zipping", "zh") in run.stderr and "正在绘制第 1 张图（共" in run.stderr
    assert "missing from" not in run.stderr  # matplotlib's warning for a character without a glyph


def test_the_cli_speaks_the_language_it_is_given(capsys):
    with pytest.raises(SystemExit):
        render_main(["--lang", "zh", "--help"])
    assert t("cli.description", "zh") in capsys.readouterr().out
    with pytest.raises(SystemExit) as stopped:
        render_main([str(SAMPLES / "chelsea.png"), "--neck", "pafnp", "--out", "x", "--lang", "zh"])
    assert stopped.value.code == 2 and "未知的颈部网络 'pafnp'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        render_main([str(SAMPLES / "chelsea.png"), "--neck", "fpn", "--out", "x", "--config", "width", "--lang", "zh"])
    assert "--config 的格式是 key=value" in capsys.readouterr().err


def test_the_api_in_chinese():
    lab = analyse_picture(SAMPLES / "chelsea.png", "pafpn", lang="zh")
    step = lab.step(16)
    assert step.narration.startswith("**第 16 步，共 21 步 · `N4`**")
    assert "自底向上" in step.narration and "Parameters" not in step.narration
    assert CJK.search(step.figure.get_suptitle())
    assert lab.explain("N4").endswith("→ **64×19×29**") and "相加节点" in lab.explain("N4")
    assert "64×19×29" in lab.explain("N4", "en") and not CJK.search(lab.explain("N4", "en"))
    summary = lab._repr_markdown_()
    assert summary.startswith("**PANet (PAFPN)**（chelsea.png，") and "）：共 22 个节点" in summary
    assert weights_words(lab.analysis.weights, "zh") in summary
    figures = lesson_figures(lab.analysis, lang=lab.lang)  # what .figures() draws
    assert all(CJK.search(f.caption) for f in figures)


@pytest.mark.parametrize("args, words", [
    (("chelsea.png", "pafnp"), "未知的颈部网络 'pafnp'"),
    (("missing.png", "fpn"), "missing.png：文件不存在"),
    (("chelsea.png", "fpn", {"out_channels": 7}), "out_channels：请给出 16 到 256 之间的整数"),
    (("chelsea.png", "fpn", {"width": 64}), "FPN 没有设置项 'width'"),
    (("chelsea.png", "fpn", None, "tpu"), "设备 'tpu' 在这里不可用"),
    ((ROOT / "README.md", "fpn"), "这里无法读取该文件"),
])
def test_api_errors_in_chinese(args, words):
    picture, *rest = args
    with pytest.raises(ValueError, match=re.escape(words)):
        analyse_picture(SAMPLES / picture, *rest, lang="zh")


def test_a_language_without_words_is_refused_by_name():
    with pytest.raises(ValueError, match="language 'fr' is not available; choose from en, zh"):
        analyse_picture(SAMPLES / "chelsea.png", "fpn", lang="fr")
