"""How handlers meet Gradio. A handler takes the browser's `Session` first and returns a view: a
frozen dataclass with one field per output. `Shows` names the component that shows each field, and
`event` turns the handler into the function Gradio calls, in one place: the session in, the view out
as Gradio's {component: value}, a changed session merged, an out-of-memory error as a message.

Analyses cross here too: a gr.State never holds one (its tensors would stay as long as the browser
session), only its `AnalysisRef`; handlers still take and return `Analysis` objects, kept in the
process-wide, byte-bounded cache (`lab.analysis.keep_analysis`)."""
from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any, Generic, TypeVar

import gradio as gr
import torch

from necklab.i18n import t
from necklab.lab.analysis import Analysis, AnalysisRef, keep_analysis, kept_analysis
from necklab.widgets.common import sent_image
from necklab.widgets.session import Session, SessionBox

V = TypeVar("V")
Component = gr.components.Component


class Shows(Generic[V]):
    """The components that show a view's fields, by field name, in the order given (an endpoint's
    order of outputs). A field may be shown by a list of components: its value is then a sequence,
    one per component. A view's `session` field is not shown: it is the session after the event."""

    def __init__(self, view: type[V], **components: Component | Sequence[Component]) -> None:
        names = sorted(f.name for f in fields(view) if f.name != "session")  # type: ignore[arg-type]
        if names != sorted(components):
            raise TypeError(f"{view.__name__} shows {names}, but components were given for {sorted(components)}")
        self.components = components

    @property
    def outputs(self) -> list[Component]:
        return [c for shown in self.components.values()
                for c in (shown if isinstance(shown, Sequence) else [shown])]

    def updates(self, view: V | None) -> dict[Component, Any]:
        """Gradio's {component: value} for a view; None leaves every output as it is."""
        if view is None:
            return gr.skip()
        updates: dict[Component, Any] = {}
        for name, shown in self.components.items():
            value = getattr(view, name)
            if isinstance(shown, Sequence):
                updates.update((c, sent_image(c, held(v))) for c, v in zip(shown, value, strict=True))
            else:
                updates[shown] = sent_image(shown, held(value))
        return updates


def held(value: Any) -> Any:
    """What a component holds for a value: an analysis by reference, anything else as it is."""
    return keep_analysis(value) if isinstance(value, Analysis) else value


def given(value: Any) -> Any:
    """What a handler gets for a component's value: the analysis a reference names (None if it was
    dropped and cannot be made again: the handler says to run the neck again), anything else as it is."""
    return kept_analysis(value) if isinstance(value, AnalysisRef) else value


def reading(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The function Gradio calls for a handler that takes no session (a button that moves the
    step slider): its inputs with every AnalysisRef given as the analysis it names."""

    @functools.wraps(handler)
    def run(*values: Any, **kwargs: Any) -> Any:
        return handler(*map(given, values), **kwargs)

    return run


class TooLong(Exception):
    """A handler went past its time limit (raised at one of its progress reports)."""


def time_limit(seconds: float) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a slow handler (one that reports progress) with a time limit: at the first progress
    report after `seconds`, `event` stops it with a message in the session's language. A thread
    cannot be stopped from outside; its progress reports are where it can stop itself."""

    def mark(handler: Callable[..., Any]) -> Callable[..., Any]:
        handler.time_limit = seconds  # type: ignore[attr-defined]
        return handler

    return mark


def _unseen(*args: Any, **kwargs: Any) -> None:
    """Progress no bar shows (an event Gradio gives no tracker): still where a time limit is checked."""


class Limited:
    """A handler's progress callback that raises TooLong once `seconds` have passed since it was made."""

    def __init__(self, progress: Callable[..., Any], seconds: float) -> None:
        self.progress, self.deadline = progress, time.monotonic() + seconds

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() > self.deadline:
            raise TooLong
        return self.progress(*args, **kwargs)


def event(handler: Callable[..., Any], shows: Shows[Any] | None = None) -> Callable[..., Any]:
    """The function Gradio calls for `handler(session, *values)` on an event whose first input is
    the session's gr.State. The handler gets the Session as it is when the event starts; its view is
    shown through `shows` (without one, what it returns goes to Gradio as it is); a Session it returns
    (alone, or as its view's `session`) is merged into the browser's. An out-of-memory error of the
    model run becomes a message with a way out, in the session's language, once the memory is given
    back so that the server keeps serving the other users. A handler with a `time_limit` stops at its
    first progress report past it, with a message that says so."""
    marked = getattr(handler, "func", handler)  # a partial's function carries the mark
    limit = getattr(marked, "time_limit", None)

    @functools.wraps(handler)  # Gradio reads the handler's signature (progress, event data) through this
    def run(box: SessionBox, *values: Any, **kwargs: Any) -> Any:
        before = box.now
        if limit is not None:  # Gradio passes a tracker only for a `progress` before any *values
            values = tuple(Limited(v, limit) if isinstance(v, gr.Progress) else v for v in values)
            if not any(isinstance(v, Limited) for v in values):
                kwargs["progress"] = Limited(kwargs.get("progress", _unseen), limit)
        try:
            result = handler(before, *map(given, values), **kwargs)
        except TooLong:
            raise gr.Error(t("common.too_long", before.lang, seconds=round(limit or 0))) from None
        except torch.OutOfMemoryError:
            pass  # leave the except block first: its traceback holds the tensors to free
        else:
            after = result if isinstance(result, Session) else getattr(result, "session", None)
            if after is not None:
                box.merge(before, after)
            if isinstance(result, Session):
                return None
            if shows is not None:
                return shows.updates(result)
            if isinstance(result, dict):
                return {c: held(v) for c, v in result.items()}
            return tuple(map(held, result)) if isinstance(result, tuple) else held(result)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise gr.Error(t("common.out_of_memory", before.lang))

    return run


def together(handlers: Sequence[tuple[Callable[..., Any], list[Any], list[Any]]]
             ) -> tuple[Callable[..., Any], list[Any], list[Any]]:
    """One event for several handlers: (fn, inputs, outputs) calling each handler in turn with its
    own inputs and updating its own outputs, as a chain of their own events would have — a handler
    gets what an earlier one set (a run's new analysis, for the panels redrawn after it). Events of a
    session run one at a time (the fair queue), each with a round trip: a step that ran five, or a
    tab that refreshed and then redrew its panels one event each, was slow."""
    # Each input once: the page looks up every input of an event in its whole component tree (a
    # walk through ~700 components each), so repeating the session and the step per handler cost.
    inputs = list(dict.fromkeys(c for _, ins, _ in handlers for c in ins))
    outputs = list(dict.fromkeys(c for _, _, outs in handlers for c in outs))
    at_input = {c: i for i, c in enumerate(inputs)}
    places = [[at_input[c] for c in ins] for _, ins, _ in handlers]

    def run(*values: Any) -> dict[Any, Any]:
        now = list(values)
        updates: dict[Any, Any] = {}
        for (fn, _, outs), at in zip(handlers, places, strict=True):
            done = _as_updates(fn(*(now[i] for i in at)), outs)
            updates.update(done)
            for component, value in done.items():  # what the next handlers read, as Gradio would give it
                if component in at_input:
                    now[at_input[component]] = _value_after(value, now[at_input[component]])
        return updates or gr.skip()  # every handler skipped: every output as it is

    run.parts = [fn for fn, _, _ in handlers]  # type: ignore[attr-defined]  # for tests: what it runs
    return run, inputs, outputs


def _value_after(update: Any, before: Any) -> Any:
    """The value a component holds after an update: a component made as an update (gr.Slider(…))
    or an update dict gives its `value` if it sets one; anything else is the value itself."""
    if isinstance(update, gr.components.Component):
        return getattr(update, "value", before)
    if isinstance(update, dict) and update.get("__type__") == "update":
        return update.get("value", before)
    return update


def _as_updates(result: Any, outputs: list[Any]) -> dict[Any, Any]:
    """A handler's return value as {output: value}, as Gradio reads it for those outputs."""
    if isinstance(result, dict) and result.get("__type__") == "update" and len(result) == 1:
        return {}  # gr.skip(): every output as it is
    if isinstance(result, dict) and all(isinstance(k, gr.components.Component) for k in result):
        return result
    if len(outputs) == 1:
        return {outputs[0]: result}
    return dict(zip(outputs, result, strict=True))
