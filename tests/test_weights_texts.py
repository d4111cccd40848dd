"""Every text that speaks of the neck's weights is true of the weights the view shows: trained weights
are named as trained (what the maps then show is learned), fresh ones as fresh (seed 0), in English and
Chinese. Trained analyses are made with `dataclasses.replace`, so nothing here needs the weights files."""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from matplotlib.text import Text

from necklab.i18n import t
from necklab.lab.analysis import Analysis, Weights, analyse
from necklab.lab.cell import activation, cell_fields
from necklab.lab.words import init_note, weights_words
from necklab.lessons import panet as panet_lesson
from necklab.lessons.asff import asff_intro
from necklab.lessons.base import LessonFigure
from necklab.pack.plan import lesson_markdown
from necklab.viz.asff import levels, weights_figure
from necklab.viz.aspp import erf_figure
from necklab.viz.cell import cell_figure
from necklab.viz.panet import outputs_figure
from necklab.viz.rfp import _verdict, fusions, gates_figure, unrolled_figure
from tests.test_zoo import resized

TRAINED = Weights("trained", metrics=(("AP", 12.3),))
LANGS = ("en", "zh")
# What a fresh-weights text says and a trained one must not (and the other way round).
FRESH_SAYS = {"en": "fresh weights (seed 0)", "zh": "初始权重（种子 0）"}
TRAINED_SAYS = {"en": "trained weights (held-out AP 12.3)", "zh": "训练后的权重（留出集 AP 12.3）"}
UNTRAINED_CLAIMS = {"en": ("not trained", "fresh", "seed 0", "what a trained detector", "mechanism, not"),
                    "zh": ("未训练", "初始权重", "种子 0", "新初始化", "而不是训练好的", "而不是训练后的权重")}


def trained(analysis: Analysis) -> Analysis:
    return replace(analysis, weights=TRAINED)


def says_trained(text: str, lang: str) -> None:
    assert TRAINED_SAYS[lang] in text, text
    for claim in UNTRAINED_CLAIMS[lang]:
        assert claim not in text.lower(), (claim, text)


def says_fresh(text: str, lang: str) -> None:
    assert FRESH_SAYS[lang] in text, text
    assert t("weights.trained", lang, metric="AP", value="12.3") not in text


def texts(fig) -> str:
    """A figure's words, without the line breaks and spaces its wrapping put in."""
    return flat("".join(x.get_text() for x in fig.findobj(Text)))


def flat(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def picture():
    return resized("chelsea.png", 160, 128)


@pytest.fixture(scope="module")
def asff(picture) -> Analysis:
    return analyse(picture, "asff", weights="fresh")


@pytest.fixture(scope="module")
def rfp(picture) -> Analysis:
    return analyse(picture, "rfp", weights="fresh")


@pytest.fixture(scope="module")
def rfp_random(picture) -> Analysis:
    return analyse(picture, "rfp", {"feedback_init": "random"}, weights="fresh")


@pytest.mark.parametrize("lang", LANGS)
def test_the_tabs_weights_line_names_the_weights_that_ran(lang) -> None:
    before = init_note(None, lang)
    assert "{" not in before and ("trained" in before if lang == "en" else "训练后的权重" in before)
    says_trained(init_note(TRAINED, lang), lang)
    says_fresh(init_note(Weights("fresh"), lang), lang)
    reason = init_note(Weights("fresh", "other_config"), lang)
    assert t("weights.other_config", lang) in reason


@pytest.mark.parametrize("lang", LANGS)
def test_asff_intro_and_figure_say_learned_only_with_trained_weights(asff, lang) -> None:
    assert "{" not in asff_intro(None, lang)
    says_fresh(asff_intro(asff, lang), lang)
    says_trained(asff_intro(trained(asff), lang), lang)
    level = levels(asff)[0]
    says_fresh(weights_figure(asff, level, lang).get_suptitle(), lang)
    says_trained(weights_figure(trained(asff), level, lang).get_suptitle(), lang)


@pytest.mark.parametrize("lang", LANGS)
def test_rfp_verdicts_gates_and_note_follow_the_weights(rfp, rfp_random, lang) -> None:
    found = fusions(rfp_random)
    fresh = _verdict(rfp_random, found, lang)
    assert ("not trained ones" in fresh) if lang == "en" else ("而不是训练得到的权重" in fresh)
    learned = _verdict(trained(rfp_random), found, lang)
    says_trained(learned, lang)
    assert ("not trained ones" not in learned) if lang == "en" else ("而不是训练得到的权重" not in learned)
    gates = gates_figure(rfp_random, lang).get_suptitle()
    assert t("rfp.gate_fresh", lang) in gates
    assert t("rfp.gate_trained", lang) in gates_figure(trained(rfp_random), lang).get_suptitle()
    same = fusions(rfp)  # reference initialisation, fresh: pass 2 is pass 1
    assert _verdict(rfp, same, lang) == t("rfp.verdict_same_fresh", lang)
    assert _verdict(trained(rfp), same, lang) == t("rfp.verdict_same_trained", lang,
                                                   weights=weights_words(TRAINED, lang))
    assert flat(t("rfp.init_reference", lang)) in texts(unrolled_figure(rfp, lang))
    says_trained(t("rfp.init_trained", lang, weights=weights_words(TRAINED, lang)), lang)
    assert flat(t("rfp.init_trained", lang, weights=weights_words(TRAINED, lang))) in texts(
        unrolled_figure(trained(rfp), lang))


@pytest.mark.parametrize("lang", LANGS)
def test_panet_outputs_name_each_rows_weights(picture, lang) -> None:
    fpn = analyse(picture, "fpn", weights="fresh")
    panet = analyse(picture, "pafpn", weights="fresh")
    mixed = outputs_figure([fpn, trained(panet)], ["FPN", "PANet"], lang).get_suptitle()
    assert t("panet.row_weights", lang, name="FPN", weights=FRESH_SAYS[lang]) in mixed
    assert t("panet.row_weights", lang, name="PANet", weights=TRAINED_SAYS[lang]) in mixed


@pytest.mark.parametrize("lang", LANGS)
def test_aspp_erf_title_names_the_weights(picture, lang) -> None:
    aspp = analyse(picture, "aspp", weights="fresh")
    erfs = {node: np.ones(picture.rgb.shape[:2]) for node in aspp.outputs}
    says_fresh(erf_figure(aspp, erfs, (0, 0), lang).get_suptitle(), lang)
    assert TRAINED_SAYS[lang] in erf_figure(trained(aspp), erfs, (0, 0), lang).get_suptitle()


@pytest.mark.parametrize("lang", LANGS)
def test_the_packs_intro_names_the_analysis_weights(asff, lang) -> None:
    figure = [LessonFigure("graph", "graph", lambda: None)]  # the plan only names figures
    says_fresh(lesson_markdown(asff, figure, "chelsea.png", lang), lang)
    text = lesson_markdown(trained(asff), figure, "chelsea.png", lang)
    assert t("pack.intro_trained", lang, weights=TRAINED_SAYS[lang]) in text
    assert t("pack.intro_fresh", lang, weights=TRAINED_SAYS[lang], seed=0) not in text


@pytest.mark.parametrize("lang", LANGS)
def test_the_cell_views_pending_line_names_the_weights(picture, lang) -> None:
    fpn = analyse(picture, "fpn", weights="fresh")
    fields = cell_fields(fpn, "P4", (1, 1))
    erf = np.ones(fpn.picture.rgb.shape[:2])
    fig = cell_figure(fpn, "P4", (1, 1), fields, erf, activation(fpn, "P4", (1, 1)), lang=lang)
    says_fresh(fig.get_suptitle(), lang)


@pytest.mark.parametrize("key", ["compare.intro", "playground.honest", "live.intro", "panel.rfp_intro",
                                 "panel.bifpn_intro", "neck.init_note"])
def test_texts_shown_before_any_run_say_when_which_weights_run(key) -> None:
    """Texts not tied to one analysis must not claim fresh weights unconditionally: they say when
    trained weights run and when fresh ones do."""
    en = t(key, "en", mass=95, side=320, seconds=60, eps=1e-4)
    assert "trained" in en.lower() and "fresh" in en
    assert "freshly initialised, seed 0)" not in en and "no trained neck weights exist" not in en
    zh = t(key, "zh", mass=95, side=320, seconds=60, eps=1e-4)
    assert ("训练后的权重" in zh or "训练好的权重" in zh) and "初始" in zh


def test_compare_intro_says_what_the_ap_columns_mean() -> None:
    en = t("compare.intro", "en", mass=95)
    assert all(words in en for words in ("pycocotools", "300 held-out synthetic scenes", "not on this picture"))
    zh = t("compare.intro", "zh", mass=95)
    assert all(words in zh for words in ("pycocotools", "300 个留出的合成场景", "而不是在这张图片上"))


def manifest(panet: dict | None, fpn: dict | None):
    entries = {name: {"metrics": m} for name, m in (("pafpn", panet), ("fpn", fpn)) if m is not None}
    return lambda: entries


SCORES = {"AP": 10.0, "AP_S": 2.0, "AP_M": 11.0, "AP_L": 20.0}


@pytest.mark.parametrize(("panet_ap", "verdict"), [(12.0, "higher"), (8.0, "lower"), (10.4, "equal"), (9.6, "equal")])
@pytest.mark.parametrize("lang", LANGS)
def test_panet_vs_fpn_sentence_is_worded_from_the_numbers(monkeypatch, panet_ap, verdict, lang) -> None:
    panet = {**SCORES, "AP": panet_ap, "AP_S": 3.5}
    monkeypatch.setattr(panet_lesson, "read_manifest", manifest(panet, SCORES))
    text = panet_lesson.measured(lang)
    others = {"higher", "lower", "equal"} - {verdict}
    assert text == t(f"panel.panet_measured_{verdict}", lang, panet=f"{panet_ap:.1f}", fpn="10.0", panet_s="3.5",
                     fpn_s="2.0", panet_m="11.0", fpn_m="11.0", panet_l="20.0", fpn_l="20.0")
    for other in others:
        assert text != t(f"panel.panet_measured_{other}", lang, panet=f"{panet_ap:.1f}", fpn="10.0", panet_s="3.5",
                         fpn_s="2.0", panet_m="11.0", fpn_m="11.0", panet_l="20.0", fpn_l="20.0")
    assert re.search(r"\b10\.0\b", text) and f"{panet_ap:.1f}" in text and "3.5" in text


@pytest.mark.parametrize("lang", LANGS)
def test_panet_vs_fpn_sentence_says_which_has_no_trained_weights(monkeypatch, lang) -> None:
    monkeypatch.setattr(panet_lesson, "read_manifest", manifest(SCORES, None))
    text = panet_lesson.measured(lang)
    assert text == t("panel.panet_measured_none", lang, missing="FPN")
    monkeypatch.setattr(panet_lesson, "read_manifest", manifest(None, None))
    assert "PANet" in panet_lesson.measured(lang) and "FPN" in panet_lesson.measured(lang)
