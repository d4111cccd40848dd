"""A tab for one or more necks of the registry: config controls, graph, step-through, shapes.

Every neck in `necklab.models.registry.NECKS` gets one of these (necks sharing a `tab` share it),
so a new neck appears in the app without other edits; its lesson's panel (`necklab.lessons`) is
built under the common step-through.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import gradio as gr
import numpy as np

from necklab.i18n import t
from necklab.lab.analysis import Analysis, analyse
from necklab.lab.cache import LRU
from necklab.lab.imaging import Picture
from necklab.lessons import lesson_for
from necklab.models.registry import NECKS, Control, NeckSpec
from necklab.ui.export import export_box
from necklab.ui.quiz import quiz_box
from necklab.viz.graph import GraphPicture, focus_nodes
from necklab.viz.lesson import lesson_step
from necklab.viz.step import narration, node_table, node_table_headers, step_figure
from necklab.widgets.common import figure_box, image, out_of_memory_as_message, session_picture
from necklab.widgets.controls import control_label, parse_value
from necklab.widgets.text import localised


def parse_config(spec: NeckSpec, values: Sequence[Any], lang: str = "en") -> dict[str, Any]:
    """Turn the control values of one neck into its build arguments, with clear messages."""
    config: dict[str, Any] = {}
    for control, value in zip(spec.controls, values):
        config[control.arg] = parse_value(control, value, lang)
    return config


def control_component(control: Control, elem_id: str, prefix: str = "") -> gr.components.Component:
    """The control's input, its label (after `prefix`) and choice labels following the language."""
    def label(lang: str) -> str:
        words = control_label(control, lang)
        return prefix + (t("neck.comma_separated", lang, label=words) if control.kind == "ints" else words)

    if control.kind == "int":
        return localised(gr.Slider, {"label": label}, minimum=control.minimum, maximum=control.maximum,
                         value=control.default, step=control.step, elem_id=elem_id)
    if control.kind == "choice":
        labels = control.labels or tuple(str(c) for c in control.choices)

        def choices(lang: str) -> list[tuple[str, str]]:
            return [(control_label(control, lang, text), str(c)) for text, c in zip(labels, control.choices)]

        return localised(gr.Dropdown, {"label": label, "choices": choices}, value=str(control.default), elem_id=elem_id)
    return localised(gr.Textbox, {"label": label}, value=", ".join(map(str, control.default)), elem_id=elem_id)


def summary(analysis: Analysis, spec: NeckSpec, lang: str = "en") -> str:
    times = analysis.timings
    outputs = ", ".join(f"`{o}` {'×'.join(map(str, analysis.trace[o].shape[1:]))}" for o in analysis.outputs)
    return t("neck.summary", lang, title=spec.title, paper=spec.paper, source=spec.reference_source,
             params=f"{analysis.params:,}", gflops=f"{analysis.flops / 1e9:.3f}", neck_ms=f"{times['neck'] * 1000:.0f}",
             device=analysis.device, build_ms=f"{times['neck build'] * 1000:.0f}",
             backbone_ms=f"{times['backbone'] * 1000:.0f}", nodes=len(analysis.topology.nodes), outputs=outputs)


@dataclass
class NeckTab:
    """A built tab: what lesson panels hook into, and how the app refreshes it."""

    key: str
    specs: list[NeckSpec]
    state: gr.State  # the tab's Analysis
    choice: gr.components.Component
    step: gr.Slider
    refresh: Any  # runs the neck when this tab is shown and stale
    refresh_inputs: list
    outputs: list
    runs: list = field(default_factory=list)  # events that (re)run the neck
    after_run: list = field(default_factory=list)  # (fn, inputs, outputs) of panels to redraw then
    language: Any = None  # the session's language ("en" | "zh"), an input of every handler with words
    current_tab: Any = None  # the key of the tab on screen
    redraw_words: tuple = ()  # (fn, inputs, outputs) that redraws the step's words and figures in a new language

    def chain(self, event: Any) -> Any:
        """Redraw the lesson panels after an event that may have rerun the neck."""
        for fn, inputs, outputs in self.after_run:
            event = event.then(fn, inputs, outputs, api_visibility="private")
        return event

    def redraw_after_run(self, draw: Callable[..., tuple], outputs: list, inputs: Sequence = ()) -> None:
        """Redraw a panel whenever the tab's analysis or the session's language changes, and only
        then: a per-session state keeps the analysis and language last drawn (holding the analysis
        also keeps its identity unique). A hidden tab waits until it is shown (its select event
        chains these redraws). `draw(analysis, *inputs, lang=…)` returns the values of `outputs`."""
        drawn = gr.State(None)

        def redraw(analysis: Analysis | None, last: tuple | None, lang: str, selected: str, *values: Any) -> tuple:
            if (analysis is None or selected != self.key
                    or (last is not None and last[0] is analysis and last[1] == lang)):
                return (gr.skip(),) * (len(outputs) + 1)
            return (*draw(analysis, *values, lang=lang), (analysis, lang))

        self.after_run.append((out_of_memory_as_message(redraw),
                               [self.state, drawn, self.language, self.current_tab, *inputs], [*outputs, drawn]))

    def finish(self) -> None:
        """Call once the panels are built: chains them after the tab's own run events."""
        for event in self.runs:
            self.chain(event)


def slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


# Drawn graphs by what they show (neck, config, every node's shape, the nodes drawn): a step then
# redraws only its highlight. Keyed by structure, not by analysis, so no analysis is kept alive.
_graphs = LRU(24)


def graph_picture(analysis: Analysis, nodes: list[str] | None, lang: str = "en") -> GraphPicture:
    shapes = {node: tuple(x.shape) for node, x in analysis.trace.tensors.items()}
    key = (analysis.neck_name, repr(sorted(analysis.config.items())), tuple(shapes.items()),
           tuple(nodes) if nodes else None, lang)
    return _graphs.get_or_make(key, lambda: GraphPicture(analysis.topology, shapes, nodes, lang=lang))


def render_step(analysis: Analysis, k: int, lang: str = "en") -> tuple[Any, Any, str]:
    """The graph with step k highlighted, the step's feature map, and its narration."""
    node = analysis.topology.order[int(k)]
    graph = graph_picture(analysis, focus_nodes(analysis.topology, node), lang)
    title = t("neck.graph_title", lang, name=analysis.topology.name, k=int(k), node=node)
    return graph.image(node, title), image(step_figure(analysis, node, lang=lang)), narration(analysis, node, lang)


@out_of_memory_as_message
def run_neck(specs: list[NeckSpec], session: dict | None, neck_title: str, *values: Any, lang: str = "en",
             progress: gr.Progress = gr.Progress()) -> tuple:
    """Run the chosen neck of a tab on the session's picture with the values of the tab's controls
    (all its necks' controls, in order); returns the tab's outputs."""
    picture, device = session_picture(session, lang)
    spec = next(s for s in specs if s.title == neck_title)
    start = sum(len(s.controls) for s in specs[:specs.index(spec)])
    config = parse_config(spec, values[start:start + len(spec.controls)], lang)
    progress(0.1, desc=t("neck.running", lang, title=spec.title, device=device))
    try:
        analysis = analyse(picture, spec.name, config, device)
    except ValueError as e:  # a configuration the neck cannot take
        raise gr.Error(t("neck.cannot_build", lang, title=spec.title, reason=e)) from None
    progress(0.5, desc=t("neck.drawing", lang))
    return (analysis, summary(analysis, spec, lang), *first_step(analysis, lang))


def first_step(analysis: Analysis, lang: str = "en") -> tuple:
    """A fresh analysis on a step view: graph, slider reset to step 0, its figure, words, node table
    and the lesson's first step."""
    graph_img, step_img, text = render_step(analysis, 0, lang)
    last = len(analysis.topology.nodes) - 1
    return (graph_img, gr.Slider(0, last, value=0, step=1), step_img, text, node_table(analysis, lang),
            show_lesson(analysis, 0, lang))


def same_picture(a: Picture, b: Picture) -> bool:
    return a is b or (a.original_size == b.original_size and np.array_equal(a.rgb, b.rgb))


def refresh_neck(specs: list[NeckSpec], key: str, session: dict | None, shown: Analysis | None, selected: str,
                 neck_title: str, *values: Any, lang: str = "en", progress: gr.Progress = gr.Progress()) -> tuple:
    """Run the neck if this tab (`key`) is the one on screen and what it shows is stale."""
    skip = (gr.skip(),) * 8
    if selected != key or not session:
        return skip
    spec = next(s for s in specs if s.title == neck_title)
    if (shown is not None and shown.device == session["device"] and shown.neck_name == spec.name
            and same_picture(shown.picture, session["picture"])):
        return skip
    return run_neck(specs, session, neck_title, *values, lang=lang, progress=progress)


def clamp(analysis: Analysis, k: float) -> int:
    return min(max(int(k), 0), len(analysis.topology.nodes) - 1)


def show_step(analysis: Analysis | None, k: float, lang: str = "en") -> tuple:
    if analysis is None:
        return (gr.skip(),) * 3
    return render_step(analysis, clamp(analysis, k), lang)


def show_lesson(analysis: Analysis | None, k: float, lang: str = "en") -> str:
    """The lesson's guidance for step k: what to look at, and at the last step the key idea."""
    if analysis is None:
        return t("lesson.intro", lang)
    return lesson_step(analysis, analysis.topology.order[clamp(analysis, k)], lang)


def redraw_words(analysis: Analysis | None, k: float, lang: str) -> tuple:
    """After a language switch: summary, graph, step figure, narration, lesson and table in `lang`."""
    if analysis is None:
        return (gr.skip(),) * 4 + (show_lesson(None, k, lang), gr.skip())
    return (summary(analysis, NECKS[analysis.neck_name], lang), *show_step(analysis, k, lang),
            show_lesson(analysis, k, lang), node_table(analysis, lang))


def with_language(handler: Callable[..., tuple]) -> Callable[..., tuple]:
    """`handler(*values, lang=…)` for an event whose last input is the language: the handlers take
    a variable number of control values, so the language cannot be a positional parameter."""
    def event(*values: Any, progress: gr.Progress = gr.Progress()) -> tuple:
        return handler(*values[:-1], lang=values[-1], progress=progress)
    return event


def step_back(k: float) -> int:
    return max(int(k) - 1, 0)


def step_forward(analysis: Analysis | None, k: float) -> int:
    return min(int(k) + 1, len(analysis.topology.nodes) - 1) if analysis else 0


def build_neck_tab(title: str, specs: list[NeckSpec], session: gr.State, current_tab: gr.State,
                   language: gr.components.Component | None = None, lesson: bool = True) -> NeckTab:
    """Build the tab's components and wire its events (call inside a gr.Tab), with the lesson panel
    of its necks unless `lesson` is False. `language` holds the session's language (English without
    one)."""
    key = slug(title)
    language = language if language is not None else gr.State("en")
    localised(gr.Markdown, {"value": "neck.init_note"})
    with gr.Row():
        choice = localised(gr.Radio, {"label": "neck.choice"}, choices=[s.title for s in specs], value=specs[0].title,
                           elem_id=f"{key}-neck", visible=len(specs) > 1)
    controls: list[gr.components.Component] = []
    with gr.Row():
        for spec in specs:
            for control in spec.controls:
                label_id = f"{key}-{spec.name}-{control.arg}".replace("_", "-")
                controls.append(control_component(control, label_id, f"{spec.title}: " if len(specs) > 1 else ""))
        run_button = localised(gr.Button, {"value": "neck.run"}, variant="primary", elem_id=f"{key}-run", scale=0,
                               min_width=140)
    info = localised(gr.Markdown, {"value": "common.no_picture"}, elem_id=f"{key}-summary")
    state = gr.State(None)
    export_box(key, state, language)
    view, quiz = build_step_view(key, state, language, partial(quiz_box, key))

    run = with_language(partial(run_neck, specs))
    refresh = with_language(partial(refresh_neck, specs, key))
    outputs = [state, info, *view]
    inputs = [session, choice, *controls, language]
    runs = [run_button.click(run, inputs, outputs, api_name=f"{key.replace('-', '_')}_run"),
            choice.change(run, inputs, outputs, api_visibility="private")]
    graph, step, step_view, words, table, lesson = view
    tab = NeckTab(key, specs, state, choice, step, refresh, [session, state, current_tab, choice, *controls, language],
                  outputs, runs, language=language, current_tab=current_tab,
                  redraw_words=(redraw_words, [state, step, language], [info, graph, step_view, words, lesson, table]))
    quiz.wire(tab)
    found = lesson_for(specs[0].name) if lesson else None
    if found is not None and found.panel is not None:
        found.panel(tab)
    return tab


def build_step_view(key: str, state: gr.State, language: gr.components.Component,
                    under_narration: Callable[[], Any] = lambda: None) -> tuple[list[gr.components.Component], Any]:
    """The graph, the step-through, the node table and the lesson of the analysis in `state`, wired
    to step in the session's `language`. `under_narration()` builds whatever the caller places below
    the narration (the neck tabs' quiz). Returns ([graph, step slider, step figure, narration, table,
    lesson] — the values `first_step` fills —, what `under_narration` returned)."""
    graph = figure_box("neck.graph", f"{key}-graph")
    with gr.Row():
        prev = localised(gr.Button, {"value": "neck.prev"}, elem_id=f"{key}-prev", scale=0, min_width=100)
        step = localised(gr.Slider, {"label": "neck.step"}, minimum=0, maximum=1, value=0, step=1,
                         elem_id=f"{key}-step")
        nxt = localised(gr.Button, {"value": "neck.next"}, elem_id=f"{key}-next", scale=0, min_width=100)
    with gr.Row():
        with gr.Column(scale=3):
            step_view = figure_box("neck.stepfig", f"{key}-stepfig")
        with gr.Column(scale=2):
            words = gr.Markdown(elem_id=f"{key}-narration")
            with localised(gr.Accordion, {"label": "lesson.accordion"}, open=False, elem_id=f"{key}-lesson-mode"):
                lesson = localised(gr.Markdown, {"value": "lesson.intro"}, elem_id=f"{key}-lesson")
            extra = under_narration()
    table = localised(gr.Dataframe, {"label": "neck.table", "headers": node_table_headers}, interactive=False,
                      elem_id=f"{key}-table", wrap=True)
    step.change(show_step, [state, step, language], [graph, step_view, words],
                api_name=f"{key.replace('-', '_')}_step")
    step.change(show_lesson, [state, step, language], [lesson], api_visibility="private")
    prev.click(step_back, [step], [step], api_visibility="private")
    nxt.click(step_forward, [state, step], [step], api_visibility="private")
    return [graph, step, step_view, words, table, lesson], extra
