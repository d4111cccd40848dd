"""What a lesson panel may use of the neck tab it sits in (the tab itself is built in `necklab.ui`)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import gradio as gr


class TabHooks(Protocol):
    state: gr.State  # the tab's Analysis
    step: gr.Slider  # the step on screen
    language: Any  # the session's language, an input of every handler with words
    after_run: list[tuple[Callable[..., Any], list[Any], list[Any]]]  # (fn, inputs, outputs) redrawn after a run

    def redraw_after_run(self, draw: Callable[..., tuple[Any, ...]], outputs: list[Any],
                         inputs: Sequence[Any] = ()) -> None:
        """Redraw `outputs` with `draw(analysis, *inputs, lang=…)` whenever the tab's analysis or the
        session's language changes."""
