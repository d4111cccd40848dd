"""Values only an API client sends — NaN, infinity or text for a slider, a quiz answer in
superscripts or thousands of digits, a language that is not one — end in a clear message in the
session's language (a gr.Error), never in a bare "Error" or a traceback. Handlers called directly."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import pytest

from necklab.graph.steps import Steps
from necklab.lab.analysis import analyse
from necklab.lab.shape_rules import MAX_ANSWER, parse_shape
from necklab.models.cell_design import NAS_FPN
from necklab.models.registry import NECKS
from necklab.ui import playground_tab as playground
from necklab.ui.app import switch_language
from necklab.ui.backbone_tab import analyze
from necklab.ui.neck_tab import show_step
from necklab.ui.quiz import TEXT as QUIZ_TEXT
from necklab.ui.quiz import Score, answer, ask
from necklab.widgets.controls import parse_value
from necklab.widgets.session import Session
from necklab.widgets.text import Words

EN, ZH = Session(), Session(lang="zh")
NOT_NUMBERS = [float("nan"), float("inf"), float("-inf"), "nan", "1e400", "three", None, [1], {"x": 1}, True]
SAYS = {"en": "A number was expected", "zh": "这里需要一个数"}


@pytest.fixture(scope="module")
def pafpn(chelsea):
    return analyse(chelsea, "pafpn")


def refused(call: Callable[[Session], Any], says: dict[str, str] = SAYS) -> None:
    """`call` raises a gr.Error with its message in each session's language."""
    for session in (EN, ZH):
        with pytest.raises(gr.Error, match=says[session.lang]):
            call(session)


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=repr)
def test_a_slider_value_that_is_no_finite_number_is_refused_in_words(bad, pafpn):
    rows = NAS_FPN.rows()
    refused(lambda s: show_step(s, pafpn, bad))
    refused(lambda s: ask(s, pafpn, bad))
    refused(lambda s: answer(s, pafpn, bad, "64x19x29", Score()))
    control = next(c for spec in NECKS.values() for c in spec.controls if c.kind == "int")
    refused(lambda s: parse_value(control, bad, s.lang))
    refused(lambda s: playground.run(s, rows, "x", bad, progress=lambda *_, **__: None))
    refused(lambda s: playground.compare(s, rows, "x", bad, progress=lambda *_, **__: None))
    proxies = list(playground.PROXIES)[:1]
    refused(lambda s: playground.search(s, rows, "x", 1, proxies, bad, 10))
    refused(lambda s: playground.search(s, rows, "x", 1, proxies, 2, bad))


def test_numbers_sent_as_text_or_floats_still_read(pafpn):
    assert "`N4`" in show_step(EN, pafpn, "9").narration  # the opening's 8 maps are step 0
    assert "`N4`" in show_step(EN, pafpn, 9.0).narration
    assert "`N4`" in show_step(EN, pafpn, "16", every=True).narration


@pytest.mark.parametrize("typed", ["64²x19x29", "６４x19x29", "٦٤x19x29", "①x1x1", "9" * 5000 + "x1x1"])
def test_answers_in_other_digits_are_unreadable_not_a_crash(typed):
    assert parse_shape(typed) is None


def test_a_quiz_answer_is_bounded_and_read_only_in_ascii_digits(pafpn):
    k = Steps.of(pafpn.topology).index("T4") - 1
    for typed in ("64²x19x29", None, ""):
        assert answer(EN, pafpn, k, typed, Score()).feedback == QUIZ_TEXT["unreadable"]
    too_long = {"en": f"at most {MAX_ANSWER} characters", "zh": f"最多写 {MAX_ANSWER} 个字"}
    for typed in ("9" * 5000, "64x19x29" + " " * MAX_ANSWER):
        refused(lambda s, typed=typed: answer(s, pafpn, k, typed, Score()), too_long)
    assert answer(EN, pafpn, k, "64x19x29", Score()).feedback.startswith("**Right")


@pytest.mark.parametrize("bad", [5, None, "fr", "EN", ["en"], {"lang": "zh"}], ids=repr)
def test_a_language_that_is_not_offered_is_refused_in_words(bad):
    says = {"en": "is not offered: choose en or zh", "zh": "不支持语言"}
    refused(lambda s: analyze(s, None, "cpu", "C3", bad, progress=lambda *_, **__: None), says)
    refused(lambda s: switch_language(s, bad, Words()), says)


def test_a_level_or_device_an_api_client_invents_is_named_as_text():
    """Error messages render HTML: what the client sent is escaped in them."""
    with pytest.raises(gr.Error, match="does not exist") as raised:
        analyze(EN, None, "cpu", "<img src=x onerror=alert(1)>", "en", progress=lambda *_, **__: None)
    assert "<img" not in raised.value.message and "&lt;img" in raised.value.message


@pytest.mark.parametrize("typed", ["1, 2, 3, 4, 5, 6, 7", " ".join(["1"] * 300), "1," * 150])
def test_a_list_of_numbers_is_bounded_in_count_and_length(typed):
    """64 atrous rates made one ASPP click take 64 s: a typed list holds at most `longest` numbers
    and `MAX_LIST_TEXT` characters, refused in the session's language by the tab and the API."""
    from necklab.api import neck_config

    rates = next(c for c in NECKS["aspp"].controls if c.arg == "atrous_rates")
    says = {"en": f"at most {rates.longest} numbers", "zh": f"最多 {rates.longest} 个数"}
    refused(lambda s: parse_value(rates, typed, s.lang), says)
    for lang in ("en", "zh"):
        with pytest.raises(ValueError, match=says[lang]):
            neck_config("aspp", {"atrous_rates": typed}, lang)
    assert parse_value(rates, "1, 2, 3, 4, 5, 6", "en") == (1, 2, 3, 4, 5, 6)  # `longest` itself is fine
