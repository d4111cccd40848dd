"""The two languages' data files carry the same keys with the same format fields, and the lookup
picks a language the way the app does (Accept-Language, then the switch)."""
from __future__ import annotations

from string import Formatter

import pytest

from necklab.i18n import LANGS, from_accept_language, lang_of, strings, t


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


def test_same_keys_and_fields_in_every_language():
    en = strings("en")
    assert len(en) > 150
    for lang in LANGS[1:]:
        other = strings(lang)
        assert sorted(other) == sorted(en), f"keys differ: {set(en) ^ set(other)}"
        for key, text in en.items():
            assert fields(other[key]) == fields(text), f"{lang} {key}: fields differ"
            assert other[key].strip(), f"{lang} {key} is empty"


def test_chinese_uses_chinese_terms():
    zh = "".join(strings("zh").values())
    for term in ("特征金字塔网络", "空洞", "感受野", "主干网络", "颈部网络", "特征图", "自底向上", "自顶向下"):
        assert term in zh
    assert t("neck.run", "zh") == "运行颈部网络" and t("neck.run", "en") == "Run neck"


def test_fields_are_filled():
    assert t("neck.ints_unique", "zh", label="空洞率") == "空洞率：每个数只能出现一次。"
    with pytest.raises(KeyError):
        t("neck.ints_unique", "en")  # a missing field is a bug, not a silent "{label}"


@pytest.mark.parametrize("header, lang", [
    ("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-US,en;q=0.9", "en"), ("fr-FR,fr;q=0.9", "en"),
    ("fr,zh-TW;q=0.5,en;q=0.4", "zh"), ("en;q=0.3,zh-Hans;q=0.8", "zh"), ("", "en"), (None, "en"),
    ("zh;q=bad,en", "en"),
])
def test_accept_language(header, lang):
    assert from_accept_language(header) == lang


def test_lang_codes():
    assert [lang_of(c) for c in ("zh-CN", "zh_Hans", "ZH", "en-GB", "de", None)] == ["zh", "zh", "zh", "en", "en", "en"]
