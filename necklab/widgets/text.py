"""Components whose words follow the session's language.

While the app is built, `localised(gr.Button, {"value": "app.analyze"}, ...)` creates a component
with its English words and records which text key each of its props shows. `Words.updates(lang)`
then re-labels every recorded component for a language switch (per browser session: Gradio keeps
the updated props in the session). Handlers that return text read the language from the Session.
"""
from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import gradio as gr

from necklab.i18n import t

C = TypeVar("C")
# A prop's text: a key, a key with its fields, or a function of the language (e.g. choices).
TextSpec = str | tuple[str, Mapping[str, Any]] | Callable[[str], Any]

_building: list[Words] = []


def text(spec: TextSpec, lang: str) -> Any:
    if callable(spec):
        return spec(lang)
    if isinstance(spec, tuple):
        key, fields = spec
        return t(key, lang, **fields)
    return t(spec, lang)


class Words:
    """The localised components of one app; use as a context manager around building it."""

    def __init__(self) -> None:
        self.entries: list[tuple[Any, dict[str, TextSpec]]] = []

    def __enter__(self) -> Words:
        _building.append(self)
        return self

    def __exit__(self, *_: object) -> None:
        _building.remove(self)

    @property
    def components(self) -> list:
        return [component for component, _ in self.entries]

    def updates(self, lang: str) -> list[dict]:
        """One update per recorded component, in `components` order."""
        return [gr.update(**{prop: text(spec, lang) for prop, spec in props.items()}) for _, props in self.entries]


def follow(component: C, texts: Mapping[str, TextSpec]) -> C:
    """Record that `component`'s props show these texts (when an app is being built)."""
    if _building:
        _building[-1].entries.append((component, dict(texts)))
    return component


def localised(make: Callable[..., C], texts: Mapping[str, TextSpec], **kwargs: Any) -> C:
    """`make(**kwargs)` with its text props in English, following the session's language."""
    return follow(make(**{prop: text(spec, "en") for prop, spec in texts.items()}, **kwargs), texts)


def inert(typed: Any) -> str:
    """Text a user typed (a design's name, a cell) made safe to put into Markdown or a gr.Error
    message, which both render HTML: tags and entities escaped, and no brackets left to open a
    Markdown link or image (a student's text must not load a picture or draw a form on the teacher's
    screen)."""
    return html.escape(str(typed)).replace("[", "&#91;").replace("]", "&#93;")
