"""What a lesson panel may use of the neck tab it sits in (the tab itself is built in `necklab.ui`)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import gradio as gr

from necklab.widgets.events import Shows

# An event chained after every run of the tab's neck and every language switch: (fn, inputs, outputs).
Chained = tuple[Callable[..., Any], list[Any], list[Any]]


class TabHooks(Protocol):
    session: gr.State  # the browser's Session (necklab.widgets.session), first input of every handler
    state: gr.State  # the tab's Analysis (None before its first run)
    step: gr.Slider  # the step on screen
    every: gr.Checkbox  # True: a step per node; False: the opening as one step (necklab.graph.steps.Steps)
    after_run: list[Chained]
    beside_step: Any  # what the lesson's `beside_step` built beside the step's figure (None without one)

    def follow_step(self, fn: Callable[..., Any], inputs: list[Any], outputs: list[Any]) -> None:
        """Call `fn` whenever the step on screen changes: the slider moved, or the steps regrouped."""

    def rerun_with(self, trigger: Callable[..., Any], neck: str, values: Mapping[str, str]) -> None:
        """On `trigger` (e.g. a button's `click`): choose `neck`, set its controls named in `values`
        (argument → the control's text) and run it."""

    def redraw_after_run(self, draw: Callable[..., Any], shows: Shows[Any] | gr.components.Component,
                         inputs: Sequence[Any] = (), shared: bool = False) -> None:
        """Redraw with `draw(session, analysis, *inputs)` — a view for `shows`, or the value of the one
        component — whenever the tab's analysis or the session's language changes; a `shared` view
        (of the analysis and language alone) drawn once for every session."""
