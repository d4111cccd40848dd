"""A configuration a neck cannot take is refused with words in the learner's language: the model
side names the rule and the numbers (a ConfigError), the tab, the API and the CLI say it."""
from __future__ import annotations

import pickle

import gradio as gr
import pytest

from necklab.api import analyse_picture
from necklab.i18n import strings
from necklab.lab.words import refusal_text
from necklab.models.refusal import ConfigError
from necklab.models.registry import NECKS, build_neck
from necklab.ui.neck_tab import run_neck
from necklab.widgets.session import Session
from tests.conftest import SAMPLES


@pytest.mark.parametrize("name, config, key", [
    ("yolo_spp", {"kernel_sizes": (4, 9)}, "odd_kernels"),
    ("aspp", {"atrous_rates": (6, 6)}, "distinct_rates"),
    ("spp", {"levels": (2, 2)}, "distinct_levels"),
    ("fpn", {"num_outs": 3}, "outs_cover_inputs"),
    ("nasfpn", {"stack_times": 0}, "one_repeat"),
    ("rfp", {"rfp_steps": 1}, "two_passes"),
])
def test_each_refusal_names_its_rule_and_has_words_in_both_languages(name, config, key):
    with pytest.raises(ConfigError) as caught:
        build_neck(name, **config)
    assert caught.value.key == key
    en, zh = refusal_text(caught.value, "en"), refusal_text(caught.value, "zh")
    assert en and zh and en != zh and not any("\u4e00" <= c <= "\u9fff" for c in en)
    assert any("\u4e00" <= c <= "\u9fff" for c in zh)
    again = pickle.loads(pickle.dumps(caught.value))  # crosses processes by key and fields
    assert (again.key, again.fields) == (caught.value.key, caught.value.fields)


def test_every_config_key_has_words():
    def keys(lang: str) -> set[str]:
        return {k for k in strings(lang) if k.startswith("config.")}

    assert keys("en") == keys("zh") and len(keys("en")) >= 12


def test_the_tab_says_it_in_the_session_language(chelsea):
    from necklab.lab.analysis import keep_picture

    session = Session(picture=keep_picture(chelsea), lang="zh")
    spec = NECKS["yolo_spp"]
    specs = [s for s in NECKS.values() if s.tab_title == spec.tab_title]
    values = [c.default for s in specs for c in s.controls]
    start = sum(len(s.controls) for s in specs[:specs.index(spec)])
    values[start] = "4, 9"  # even kernels pass the control's range check and reach the neck
    with pytest.raises(gr.Error, match="奇数") as caught:
        run_neck(specs, session, spec.title, *values)
    assert "config." not in str(caught.value)


def test_the_api_says_it_in_its_language():
    with pytest.raises(ValueError, match="奇数"):
        analyse_picture(SAMPLES / "chelsea.png", "yolo_spp", {"kernel_sizes": "4, 9"}, lang="zh")
    with pytest.raises(ValueError, match="must be odd"):
        analyse_picture(SAMPLES / "chelsea.png", "yolo_spp", {"kernel_sizes": "4, 9"})
