"""The app's words in English and Simplified Chinese, as data: assets/i18n/<lang>.json.

Every label, message, narration template and lesson text is looked up here by a dotted key, so the
UI, the narration and the figures follow one chosen language. The JSON files nest keys by area;
`t("step.title", "zh", k=3)` reads `{"step": {"title": ...}}` and fills its `{fields}`.
"""
from __future__ import annotations

import json
from functools import cache
from typing import Any

from necklab import ASSETS

LANGS = ("en", "zh")  # the first is the default and the fallback
I18N_DIR = ASSETS / "i18n"


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@cache
def strings(lang: str) -> dict[str, str]:
    """Every key of one language, flattened (`area.key` → text)."""
    return _flatten(json.loads((I18N_DIR / f"{lang}.json").read_text(encoding="utf-8")))


def add_words(lang: str, words: dict[str, str]) -> None:
    """Add words (flat `area.key` → text) to a language, for a neck or lesson that brings its own
    rather than living in the language files (the tests' toy neck)."""
    strings(lang).update(words)


def remove_words(lang: str, keys: list[str]) -> None:
    for key in keys:
        strings(lang).pop(key, None)


def lang_of(lang: str | None) -> str:
    """A supported language for any code ('zh-CN', 'zh_Hans', 'en-GB', None…); English otherwise."""
    primary = (lang or "").replace("_", "-").split("-")[0].strip().lower()
    return primary if primary in LANGS else LANGS[0]


def t(key: str, lang: str = "en", **fields: Any) -> str:
    """The text of `key` in `lang`, with its `{fields}` filled (a missing field raises KeyError)."""
    return strings(lang_of(lang))[key].format(**fields)


@cache
def class_names(lang: str = "en") -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names in `lang`, in index order: assets/imagenet_classes.txt in
    English, assets/imagenet_classes_<lang>.txt in another language."""
    lang = lang_of(lang)
    path = ASSETS / ("imagenet_classes.txt" if lang == LANGS[0] else f"imagenet_classes_{lang}.txt")
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def has(key: str) -> bool:
    return key in strings(LANGS[0])


def from_accept_language(header: str | None) -> str:
    """The first supported language of an Accept-Language header, by preference (q) then order."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        primary = tag.split("-")[0].strip().lower()
        if primary in LANGS:
            ranked.append((-weight, i, primary))
    return min(ranked)[2] if ranked else LANGS[0]
