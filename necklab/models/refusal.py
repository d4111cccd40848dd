"""What the model side refuses, without words: which rule was broken (`key`, worded in the language
files under the refusal's `area`) and the numbers that broke it (`fields`). The lab layer says it in
a language (`necklab.lab.words.refusal_text`); `str(e)` is only for logs and tracebacks."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar


class Refusal(ValueError):
    area: ClassVar[str]

    def __init__(self, key: str, **fields: Any) -> None:
        self.key, self.fields = key, fields
        super().__init__(f"{self.area}.{key}: {fields}")

    def __reduce__(self) -> tuple[Callable[..., Refusal], tuple[type[Refusal], str, dict[str, Any]]]:
        # pickles (e.g. across processes) by key and fields, not by the message
        return _rebuild, (type(self), self.key, self.fields)


def _rebuild(kind: type[Refusal], key: str, fields: dict[str, Any]) -> Refusal:
    return kind(key, **fields)


class ConfigError(Refusal):
    """A configuration a neck cannot take (`config.<key>`)."""

    area = "config"
