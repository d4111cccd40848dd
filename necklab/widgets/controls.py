"""Configuration controls: a neck's settings as the app shows and reads them."""
from __future__ import annotations

from typing import Any

import gradio as gr

from necklab.i18n import t
from necklab.models.spec import MAX_LIST_TEXT, Control
from necklab.widgets.common import whole


def control_label(control: Control, lang: str = "en", key: str | None = None) -> str:
    """A control's label (or the label of one of its choices, `key`) in `lang`."""
    return t(f"control.{key or control.label_key}", lang)


def parse_value(control: Control, value: Any, lang: str = "en") -> Any:
    if control.kind == "int":
        return whole(value, lang)
    if control.kind == "choice":
        return {str(c): c for c in control.choices}[str(value)]
    label = control_label(control, lang)
    text = str(value)
    if len(text) > MAX_LIST_TEXT:
        raise gr.Error(t("neck.ints_count", lang, label=label, longest=control.longest))
    try:
        numbers = tuple(int(part) for part in text.replace(",", " ").replace("，", " ").split())
    except ValueError:
        raise gr.Error(t("neck.ints_syntax", lang, label=label, example=", ".join(map(str, control.default)))) from None
    if not numbers or any(not control.minimum <= n <= control.maximum for n in numbers):
        raise gr.Error(t("neck.ints_range", lang, label=label, minimum=control.minimum, maximum=control.maximum))
    if len(numbers) > control.longest:
        raise gr.Error(t("neck.ints_count", lang, label=label, longest=control.longest))
    if len(set(numbers)) != len(numbers):
        raise gr.Error(t("neck.ints_unique", lang, label=label))
    return numbers
