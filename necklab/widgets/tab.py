"""What a lesson panel may use of the neck tab it sits in (the tab itself is built in `necklab.ui`)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import gradio as gr

from necklab.widgets.events import Shows

# An event chained after every run of the tab's neck and every language switch: (fn, inputs, outputs).
Chained = tuple[Callable[..., Any], list[Any], list[Any]]


class TabHooks(Protocol):
    session: gr.State  # the browser's Session (necklab.widgets.session), first input of every handler
    state: gr.State  # the tab's Analysis (None before its first run)
    step: gr.Slider  # the step on screen
    after_run: list[Chained]

    def redraw_after_run(self, draw: Callable[..., Any], shows: Shows[Any] | gr.components.Component,
                         inputs: Sequence[Any] = ()) -> None:
        """Redraw with `draw(session, analysis, *inputs)` — a view for `shows`, or the value of the one
        component — whenever the tab's analysis or the session's language changes."""
