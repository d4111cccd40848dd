"""A tab for one or more necks of the registry: config controls, graph, step-through, shapes.

Every neck in `necklab.models.registry.NECKS` gets one of these (necks sharing a `tab` share it),
so a new neck appears in the app without other edits; its lesson's panel (`necklab.lessons`) is
built under the common step-through.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from necklab.graph.steps import Jump, Steps
from necklab.graph.topology import Topology
from necklab.i18n import t
from necklab.lab.analysis import Analysis, keep_analysis, shared_analysis
from necklab.lab.cache import IDLE_S, LRU
from necklab.lab.words import init_note, refusal_text, weights_words
from necklab.lessons import lesson_for
from necklab.models.refusal import Refusal
from necklab.models.registry import NECKS, Control, NeckSpec
from necklab.ui.cell_view import cell_section
from necklab.ui.detections_view import detection_section
from necklab.ui.export import export_box
from necklab.ui.fair_queue import STEP_WORKERS, STEPS
from necklab.ui.quiz import quiz_box
from necklab.viz.graph import GraphPicture, focus_nodes
from necklab.viz.lesson import lesson_step, opening_lesson
from necklab.viz.step import (
    narration,
    node_table,
    node_table_headers,
    opening_narration,
    opening_sheet,
    step_figure,
    step_sheet,
)
from necklab.widgets.common import drawn_file, figure_box, found_file, image, sent_file, sent_image, whole
from necklab.widgets.controls import control_label, parse_value
from necklab.widgets.events import Shows, event, reading, time_limit, together
from necklab.widgets.session import Session, session_picture
from necklab.widgets.tab import Chained
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
        def choices(lang: str) -> list[tuple[str, str]]:
            if not control.choice_keys:  # values that read as themselves (3, 5, 7, "max", "avg")
                return [(str(c), str(c)) for c in control.choices]
            return [(control_label(control, lang, key), str(c)) for key, c in zip(control.choice_keys, control.choices)]

        return localised(gr.Dropdown, {"label": label, "choices": choices}, value=str(control.default), elem_id=elem_id)
    return localised(gr.Textbox, {"label": label}, value=", ".join(map(str, control.default)), elem_id=elem_id)


def weights_note(session: Session, analysis: Analysis) -> str:
    """The line above the tab after a run: which weights the neck ran, and what that lets a map show."""
    return init_note(analysis.weights, session.lang)


def summary(analysis: Analysis, spec: NeckSpec, lang: str = "en") -> str:
    times = analysis.timings
    outputs = ", ".join(f"`{o}` {'×'.join(map(str, analysis.trace[o].shape[1:]))}" for o in analysis.outputs)
    return t("neck.summary", lang, title=spec.title, paper=spec.paper, source=spec.reference_source,
             weights=weights_words(analysis.weights, lang),
             params=f"{analysis.params:,}", gflops=f"{analysis.flops / 1e9:.3f}", neck_ms=f"{times['neck'] * 1000:.0f}",
             device=analysis.device, build_ms=f"{times['neck build'] * 1000:.0f}",
             backbone_ms=f"{times['backbone'] * 1000:.0f}", nodes=len(analysis.topology.nodes), outputs=outputs)


@dataclass(frozen=True)
class StepShown:
    """A step drawn: the graph with the step highlighted, the step's feature map, its narration."""

    graph: Any
    figure: Any
    narration: str


@dataclass(frozen=True)
class Redrawn(StepShown):
    """The tab in a new language: the step drawn again, the summary, the node table and the lesson."""

    summary: str
    table: Any
    lesson: str


@dataclass(frozen=True)
class TabView(Redrawn):
    """A fresh analysis on the tab (for its state), shown at step 0 with the slider set to its steps
    (the opening as one step), and the jump buttons whose part this configuration has."""

    analysis: Analysis
    step: Any
    every: bool
    jumps: list[Any]


@dataclass(frozen=True)
class StepBoxes:
    """The components of a step view, named as the views' fields they show."""

    graph: gr.Image
    step: gr.Slider
    figure: gr.Image
    narration: gr.Markdown
    table: gr.Dataframe
    lesson: gr.Markdown
    every: gr.Checkbox
    jumps: list[gr.Button]


@dataclass(frozen=True)
class StepView:
    """A built step view: its components, the event that regroups its steps (the checkbox), the
    hidden box that Prev / Next read the steps beside the one on screen from (`steps_around`, for
    the caller to fill), and what the caller's builders placed under the narration and beside the
    step's figure."""

    boxes: StepBoxes
    regrouped: Any
    around: gr.JSON
    under_narration: Any = None
    beside_step: Any = None


@dataclass(frozen=True)
class Drawn:
    """The analysis (by its key among the kept ones) and language a panel last drew."""

    analysis: str
    lang: str


@dataclass
class NeckTab:
    """A built tab: what lesson panels hook into (`TabHooks`), and how the app refreshes it."""

    key: str
    specs: list[NeckSpec]
    controls: list[gr.components.Component]  # every neck's controls, in order
    session: gr.State  # the browser's Session
    state: gr.State  # the tab's Analysis
    step: gr.Slider
    every: gr.Checkbox  # one step per node, or the opening as one step
    regrouped: Any  # the event of that checkbox, after which the step on screen is redrawn
    choice: gr.Radio  # the neck of the tab that runs
    run: Chained  # runs the chosen neck with the controls' values
    refresh: Chained  # runs the neck when this tab is on screen and what it shows is stale
    redraw_words: Chained  # redraws the step's words and figures in a new language
    runs: list = field(default_factory=list)  # events that (re)run the neck
    after_run: list[Chained] = field(default_factory=list)  # panels to redraw then
    followers: list[Chained] = field(default_factory=list)  # what follows the step on screen (`follow_step`)
    beside_step: Any = None  # what the lesson built beside the step's figure

    def chain(self, event: Any, first: Chained | None = None) -> Any:
        """Redraw the lesson panels after an event that may have rerun the neck (after `first`, in
        the same event): one event, not one per panel (`together`)."""
        return event.then(*together([first, *self.after_run] if first else self.after_run),
                          api_visibility="private")

    def show_after(self, event: Any) -> Any:
        """After an event that may make the tab stale (a new picture, the tab shown): refresh it."""
        return self.chain(event, self.refresh)

    def relabel_after(self, event: Any) -> Any:
        """After a language switch: the tab's words and figures in the new language."""
        return self.chain(event, self.redraw_words)

    def redraw_after_run(self, draw: Callable[..., Any], shows: Shows[Any] | gr.components.Component,
                         inputs: Sequence[Any] = (), shared: bool = False) -> None:
        """Redraw a panel whenever the tab's analysis or the session's language changes, and only
        then: a per-session state keeps the key of the analysis and the language last drawn (one
        analysis, one key; made again from its recipe, the same key). A hidden tab waits until it
        is shown (its select event chains these redraws). `draw(session, analysis, *inputs)`
        returns a view for `shows` (or the value of the one component). A `shared` panel is a view
        of the analysis and the language alone (no inputs): it is drawn once for every session
        showing that analysis (a class on one sample picture), kept as the files and words sent."""
        if shared and inputs:
            raise ValueError("a shared panel is drawn from the analysis and language alone: it takes no inputs")
        drawn = gr.State(None)

        def updates(session: Session, analysis: Analysis, values: Sequence[Any]) -> dict[Any, Any]:
            view = draw(session, analysis, *values)
            return shows.updates(view) if isinstance(shows, Shows) else {shows: sent_image(shows, view)}

        def redraw(session: Session, analysis: Analysis | None, last: Drawn | None, *values: Any) -> Any:
            if analysis is None or session.tab != self.key:
                return gr.skip()
            now = Drawn(keep_analysis(analysis).key, session.lang)
            if now == last:
                return gr.skip()
            if not shared:
                return {**updates(session, analysis, values), drawn: now}
            key = (shows, now)  # the panel itself (its components), not an id a later panel may reuse
            if any(files_gone(_panels.find(key) or {})):
                _panels.discard(key)  # Gradio's cache removed a file: draw again
            return {**_panels.get_or_make(key, lambda: updates(session, analysis, values)), drawn: now}

        outputs = shows.outputs if isinstance(shows, Shows) else [shows]
        self.after_run.append((event(redraw), [self.session, self.state, drawn, *inputs], [*outputs, drawn]))

    def follow_step(self, fn: Callable[..., Any], inputs: list[Any], outputs: list[Any]) -> None:
        """Call `fn` whenever the step on screen changes: the slider moved, or the steps regrouped
        (all followers in one event, registered by `finish`)."""
        self.followers.append((fn, inputs, outputs))

    def rerun_with(self, trigger: Callable[..., Any], neck: str, values: Mapping[str, str]) -> None:
        """On `trigger` (e.g. a button's `click`): choose `neck`, set its controls named in `values`
        (argument → the control's text) and run it, as the learner would by hand."""
        spec = next(s for s in self.specs if s.name == neck)
        start = sum(len(s.controls) for s in self.specs[:self.specs.index(spec)])
        targets = {c.arg: self.controls[start + i] for i, c in enumerate(spec.controls)}
        components = [self.choice, *(targets[arg] for arg in values)]
        filled = trigger(lambda: [spec.title, *values.values()], None, components, api_visibility="private")
        self.runs.append(filled.then(*self.run, api_visibility="private"))

    def finish(self) -> None:
        """Call once the panels are built: chains them after the tab's own run events, and makes
        what follows the step one event."""
        for run in self.runs:
            self.chain(run)
        fn, inputs, outputs = together(self.followers)
        self.step.change(fn, inputs, outputs, api_visibility="private")
        self.regrouped.then(fn, inputs, outputs, api_visibility="private")


# Shared lesson panels as sent (files and words), by panel and what they show (`redraw_after_run`).
_panels: LRU[Hashable, dict[Any, Any]] = LRU(256, idle=IDLE_S)


def files_gone(updates: Mapping[Any, Any]) -> Iterator[bool]:
    """For each PNG file among the values sent, whether it is gone."""
    return (not Path(v).exists() for v in updates.values() if isinstance(v, str) and v.endswith(".png"))


def slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


# Drawn graphs by what they show (neck, config, every node's shape, the nodes drawn): a step then
# redraws only its highlight. Keyed by structure, not by analysis, so no analysis is kept alive.
_graphs: LRU[Hashable, GraphPicture] = LRU(24, idle=IDLE_S)


def drawn_structure(analysis: Analysis) -> tuple[str, str, tuple[tuple[str, tuple[int, ...]], ...]]:
    """What a graph of the analysis draws besides its highlight and title: the neck, its
    configuration and every node's shape (not the picture, nor the values)."""
    shapes = tuple((node, tuple(x.shape)) for node, x in analysis.trace.tensors.items())
    return analysis.neck_name, repr(sorted(analysis.config.items())), shapes


def graph_picture(analysis: Analysis, nodes: list[str] | None, lang: str = "en") -> GraphPicture:
    neck, config, shapes = drawn_structure(analysis)
    key = (neck, config, shapes, tuple(nodes) if nodes else None, lang)
    return _graphs.get_or_make(key, lambda: GraphPicture(analysis.topology, dict(shapes), nodes, lang))


def step_image(analysis: Analysis, node: str, lang: str = "en") -> np.ndarray:
    """The step image of one node: its maps (`step_sheet`), or a pooled vector's bars (`step_figure`)."""
    if analysis.trace[node].dim() != 4:  # a pooled vector's bars (one step of SPP)
        return image(step_figure(analysis, node, lang=lang))
    return step_sheet(analysis, node, lang=lang).image()


def steps_of(analysis: Analysis, every: bool = False) -> Steps:
    """The steps of the analysed neck: the opening as one step, or (`every`) one per node."""
    return Steps.of(analysis.topology, bool(every))


def focus(topology: Topology, nodes: Sequence[str]) -> list[str] | None:
    """The nodes worth drawing for a step of one or more nodes (`focus_nodes` of each, together)."""
    each = [focus_nodes(topology, node) for node in nodes]
    if any(drawn is None for drawn in each):
        return None
    drawn = {node for nodes_of in each for node in nodes_of or ()}
    return [node for node in topology.order if node in drawn]


def graph_title(analysis: Analysis, k: int, lang: str = "en", every: bool = False) -> str:
    """The title of the graph at step k (the opening step names its first and last node)."""
    nodes = steps_of(analysis, every)[int(k)]
    return t("neck.graph_title", lang, name=analysis.title, k=int(k), weights=weights_words(analysis.weights, lang),
             node=nodes[0] if len(nodes) == 1 else f"{nodes[0]} … {nodes[-1]}")


def step_graph(analysis: Analysis, k: int, lang: str = "en", every: bool = False) -> np.ndarray:
    """The graph with step k highlighted."""
    nodes = steps_of(analysis, every)[int(k)]
    graph = graph_picture(analysis, focus(analysis.topology, nodes), lang)
    return graph.image(nodes if len(nodes) > 1 else nodes[0], graph_title(analysis, k, lang, every))


def step_map(analysis: Analysis, k: int, lang: str = "en", every: bool = False) -> np.ndarray:
    """Step k's feature map(s): the opening's pyramid, or one node's map."""
    nodes = steps_of(analysis, every)[int(k)]
    return opening_sheet(analysis, nodes, lang).image() if len(nodes) > 1 else step_image(analysis, nodes[0], lang)


def step_narration(analysis: Analysis, k: int, lang: str = "en", every: bool = False) -> str:
    """What step k does, in words, and the weights it was computed with."""
    steps = steps_of(analysis, every)
    nodes = steps[int(k)]
    words = (opening_narration(analysis, nodes, lang, steps) if len(nodes) > 1
             else narration(analysis, nodes[0], lang, steps))
    return words + "\n\n" + t("neck.weights_line", lang, weights=weights_words(analysis.weights, lang))


def render_step(analysis: Analysis, k: int, lang: str = "en", every: bool = False) -> StepShown:
    """The graph with step k highlighted, the step's feature map(s), and its narration."""
    return StepShown(graph=step_graph(analysis, k, lang, every), figure=step_map(analysis, k, lang, every),
                     narration=step_narration(analysis, k, lang, every))


@time_limit(60)
def run_neck(specs: list[NeckSpec], session: Session, neck_title: str, *values: Any,
             progress: gr.Progress = gr.Progress()) -> TabView:
    """Run the chosen neck of a tab on the session's picture with the values of the tab's controls
    (all its necks' controls, in order)."""
    picture, device = session_picture(session)
    lang = session.lang
    spec = next(s for s in specs if s.title == neck_title)
    start = sum(len(s.controls) for s in specs[:specs.index(spec)])
    config = parse_config(spec, values[start:start + len(spec.controls)], lang)
    progress(0.1, desc=t("neck.running", lang, title=spec.title, device=device))
    try:
        analysis = shared_analysis(picture, spec.name, config, device, weights=session.weights)
    except ValueError as e:  # a configuration the neck cannot take (a Refusal has its words in `lang`)
        reason = refusal_text(e, lang) if isinstance(e, Refusal) else str(e)
        raise gr.Error(t("neck.cannot_build", lang, title=spec.title, reason=reason)) from None
    progress(0.5, desc=t("neck.drawing", lang))
    return tab_view(analysis, summary(analysis, spec, lang), lang, jumps_of(specs))


def jumps_of(specs: Sequence[NeckSpec]) -> tuple[Jump, ...]:
    """The jumps the lesson of a tab's necks declares."""
    found = lesson_for(specs[0].name)
    return found.jumps if found is not None else ()


def tab_view(analysis: Analysis, summary_text: str, lang: str = "en", jumps: Sequence[Jump] = ()) -> TabView:
    """A fresh analysis on a step view: step 0 (the opening) drawn, the slider reset to the steps,
    one per node only once asked again, the summary, the node table, the lesson's first step, and
    the jump buttons shown where this configuration has their part."""
    return TabView(**vars(shown_step(analysis, 0, lang)), summary=summary_text, table=node_table(analysis, lang),
                   lesson=lesson_text(analysis, 0, lang), analysis=analysis, every=False,
                   step=gr.Slider(0, steps_of(analysis).last, value=0, step=1),
                   jumps=[gr.Button(visible=jump.target(analysis.topology) is not None) for jump in jumps])


def refresh_neck(specs: list[NeckSpec], key: str, session: Session, shown: Analysis | None, neck_title: str,
                 *values: Any, progress: gr.Progress = gr.Progress()) -> TabView | None:
    """Run the neck if this tab (`key`) is the one on screen and what it shows is stale."""
    if session.tab != key or session.picture is None:
        return None
    spec = next(s for s in specs if s.title == neck_title)
    if (shown is not None and shown.device == session.device and shown.neck_name == spec.name
            and shown.picture.key == session.picture and shown.recipe is not None
            and shown.recipe.weights == session.weights):
        return None
    return run_neck(specs, session, neck_title, *values, progress=progress)


def clamp(analysis: Analysis, k: float, lang: str = "en", every: bool = False) -> int:
    """Step k (a slider's value, or whatever an API client sent: a gr.Error in `lang` if no number)
    as a step of the analysis."""
    return min(max(whole(k, lang), 0), steps_of(analysis, every).last)


def _step_key(analysis: Analysis, k: int, lang: str, every: bool) -> tuple[Any, ...]:
    return keep_analysis(analysis).key, int(k), bool(every), lang


def _graph_key(analysis: Analysis, k: int, lang: str, every: bool) -> tuple[Any, ...]:
    """A step's graph by what it shows: the same for every picture of one size (their maps differ)."""
    nodes = steps_of(analysis, every)[int(k)]
    return "graph", *drawn_structure(analysis), tuple(nodes), graph_title(analysis, k, lang, every), lang


def shown_step(analysis: Analysis, k: int, lang: str = "en", every: bool = False) -> StepShown:
    """`render_step` as the files Gradio serves, each drawn once per what it shows (`drawn_file`):
    the map and the narration per analysis (a shared one's key is its recipe's: every session on
    that picture), step, grouping and language; the graph per structure, step and language, so
    that students on pictures of one size share it."""
    step = (analysis, k, lang, every)
    key = _step_key(*step)
    return StepShown(graph=drawn_file(_graph_key(*step), partial(step_graph, *step)),
                     figure=drawn_file((*key, "figure"), partial(step_map, *step)),
                     narration=_narrations.get_or_make(key, partial(step_narration, *step)))


# A step's narration by the same key: a few hundred characters each.
_narrations: LRU[Hashable, str] = LRU(8192)


def show_step(session: Session, analysis: Analysis | None, k: float, every: bool = False) -> StepShown | None:
    lang = session.lang
    return None if analysis is None else shown_step(analysis, clamp(analysis, k, lang, every), lang, every)


def drawn_step(analysis: Analysis, k: int, lang: str = "en", every: bool = False) -> StepShown | None:
    """Step k as `shown_step` sends it if it is drawn already, else None (draws nothing)."""
    key = _step_key(analysis, k, lang, every)
    graph, figure = found_file(_graph_key(analysis, k, lang, every)), found_file((*key, "figure"))
    words = _narrations.find(key)
    return None if graph is None or figure is None or words is None else StepShown(graph, figure, words)


def steps_around(session: Session, analysis: Analysis | None, k: float, every: bool = False) -> Any:
    """Step k and the steps beside it, as the page's Prev / Next show them without waiting for the
    server (`STEP_TO`): the next one drawn now, while the learner reads step k, the one before if
    it is drawn already. Each as its files (`sent_file`) and narration, by step number; the page
    uses them only while it shows one of their graphs."""
    if analysis is None:
        return gr.skip()
    lang = session.lang
    k = clamp(analysis, k, lang, every)
    around = {k: shown_step(analysis, k, lang, every)}
    if k < steps_of(analysis, every).last:
        around[k + 1] = shown_step(analysis, k + 1, lang, every)
    if k > 0 and (before := drawn_step(analysis, k - 1, lang, every)) is not None:
        around[k - 1] = before
    return {str(j): {"graph": sent_file(shown.graph), "figure": sent_file(shown.figure), "narration": shown.narration}
            for j, shown in sorted(around.items())}


def lesson_text(analysis: Analysis | None, k: float, lang: str = "en", every: bool = False) -> str:
    """The lesson's guidance for step k: what to look at, and at the last step the key idea."""
    if analysis is None:
        return t("lesson.intro", lang)
    steps = steps_of(analysis, every)
    nodes = steps[clamp(analysis, k, lang, every)]
    if len(nodes) > 1:
        return opening_lesson(analysis, nodes, lang, steps)
    return lesson_step(analysis, nodes[0], lang, steps)


def show_lesson(session: Session, analysis: Analysis | None, k: float, every: bool = False) -> str:
    return lesson_text(analysis, k, session.lang, every)


def regroup(session: Session, analysis: Analysis | None, k: float, every: bool) -> Any:
    """The checkbox ticked or cleared: the slider over the new steps, at the step of the node on
    screen (the opening's first node when it was shown as one step)."""
    if analysis is None:
        return gr.skip()
    before, after = steps_of(analysis, not every), steps_of(analysis, every)
    node = before[clamp(analysis, k, session.lang, not every)][0]
    return gr.Slider(0, after.last, value=after.index(node), step=1)


def jump(target: Jump, analysis: Analysis | None, every: bool) -> Any:
    """The step of a jump's node (unchanged before a run, or where the neck has no such node)."""
    node = target.target(analysis.topology) if analysis is not None else None
    return gr.skip() if analysis is None or node is None else steps_of(analysis, every).index(node)


def redraw_words(session: Session, analysis: Analysis | None, k: float, every: bool = False) -> Redrawn:
    """After a language switch: graph, step figure, narration, summary, table and lesson in the
    session's language (before any analysis, only the lesson's introduction)."""
    lang = session.lang
    if analysis is None:
        skip = gr.skip()
        return Redrawn(graph=skip, figure=skip, narration=skip, summary=skip, table=skip,
                       lesson=lesson_text(None, k, lang))
    return Redrawn(**vars(shown_step(analysis, clamp(analysis, k, lang, every), lang, every)),
                   summary=summary(analysis, NECKS[analysis.neck_name], lang), table=node_table(analysis, lang),
                   lesson=lesson_text(analysis, k, lang, every))


def build_neck_tab(title: str, specs: list[NeckSpec], session: gr.State, lesson: bool = True) -> NeckTab:
    """Build the tab's components and wire its events (call inside a gr.Tab), with the lesson panel
    of its necks unless `lesson` is False. `session` is the app's gr.State of the browser's Session."""
    key = slug(title)
    note = localised(gr.Markdown, {"value": "neck.init_note"})
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
    export_box(key, session, state)
    found = lesson_for(specs[0].name) if lesson else None
    view = build_step_view(key, session, state, partial(quiz_box, key), jumps_of(specs) if lesson else (),
                           found.beside_step if found is not None else None)
    cell = cell_section(key)
    detections = detection_section(key)
    boxes = view.boxes

    shows = Shows(TabView, analysis=state, summary=info, **vars(boxes))
    run = event(partial(run_neck, specs), shows)
    inputs = [session, choice, *controls]
    runs = [run_button.click(run, inputs, shows.outputs, api_name=f"{key.replace('-', '_')}_run"),
            choice.change(run, inputs, shows.outputs, api_visibility="private")]
    redrawn = Shows(Redrawn, summary=info, graph=boxes.graph, figure=boxes.figure, narration=boxes.narration,
                    table=boxes.table, lesson=boxes.lesson)
    tab = NeckTab(key, specs, controls, session, state, boxes.step, boxes.every, view.regrouped, choice,
                  run=(run, inputs, shows.outputs),
                  refresh=(event(partial(refresh_neck, specs, key), shows), [session, state, choice, *controls],
                           shows.outputs),
                  redraw_words=(event(redraw_words, redrawn), [session, state, boxes.step, boxes.every],
                                redrawn.outputs),
                  runs=runs, beside_step=view.beside_step)
    tab.follow_step(event(show_lesson), [session, state, boxes.step, boxes.every], [boxes.lesson])
    # The steps beside the one on screen, for Prev / Next: after each step, and after a run or a
    # language switch (which change the step without moving the slider).
    tab.follow_step(event(steps_around), [session, state, boxes.step, boxes.every], [view.around])
    tab.redraw_after_run(steps_around, view.around, [boxes.step, boxes.every])
    tab.redraw_after_run(weights_note, note)
    view.under_narration.wire(tab)
    cell.wire(tab)
    detections.wire(tab)
    if found is not None and found.panel is not None:
        found.panel(tab)
    return tab


# CSS heights of the step's boxes: with Prev / Next (~70 px) and the gaps, graph and map share one
# 720 px window (tests/test_layout_browser.py).
STEP_HEIGHTS = {"graph": "44vh", "map": "34vh"}
# The node table's columns (step, node, op, inputs, stride, C, H, W, params) in shares of its width:
# sized by their contents, a long "inputs" (NAS-FPN's cells) pushed the last columns out of view.
NODE_TABLE_WIDTHS = ["6%", "11%", "11%", "34%", "8%", "7%", "7%", "7%", "9%"]


# Prev / Next in the page (Gradio runs them as the events' `js`; needs 'unsafe-eval', see ui/headers.py),
# two page-only events, which Gradio's front end runs without the loading bookkeeping that costs a
# server event ~0.1-0.4 s there. SHOW_STEP: if the server sent the step one back or on (BY) with the
# graph on screen (`steps_around`), its graph, map and narration show at once. MOVE_STEP, after the
# page has painted them: the slider moves there, within its range (its maximum is the analysis' last
# step); its change asks the server for the step as ever (it finds it drawn: the same files), and
# what follows the step.
STEP_TO = "Math.min(Math.max(Math.round(k) + BY, 0), Number(document.querySelector('#KEY-step input[type=range]').max))"
# Of the steps sent ahead (`around`), the one whose graph is on screen (`here`), and the root of the
# address the page reaches their files at (the graph's URL less the root-relative URL sent).
HERE = """const here = around && graph?.url && Object.values(around).find((s) => graph.url.endsWith(s.graph.url));
  const root = here ? graph.url.slice(0, graph.url.length - here.graph.url.length) : "";"""
SHOW_STEP = """(k, around, graph, figure, words) => {
  HERE
  const sent = here && around[STEP_TO];
  if (!sent) return [graph, figure, words];
  const served = (file) => ({...file, url: root + file.url});
  return [served(sent.graph), served(sent.figure), sent.narration];
}""".replace("HERE", HERE).replace("STEP_TO", STEP_TO)
MOVE_STEP = """async (k) => {
  await new Promise((painted) => requestAnimationFrame(() => setTimeout(painted, 0)));
  return STEP_TO;
}""".replace("STEP_TO", STEP_TO)
# The steps sent ahead, fetched and decoded by the page as they arrive, so that Next only swaps them in.
PRELOAD = """(around, graph) => {
  HERE
  if (!here) return;
  for (const step of Object.values(around)) {
    for (const file of [step.graph, step.figure]) {
      const image = new Image();
      image.src = root + file.url;
      image.decode().catch(() => {});
    }
  }
}""".replace("HERE", HERE)


def build_step_view(key: str, session: gr.State, state: gr.State,
                    under_narration: Callable[[], Any] = lambda: None, jumps: Sequence[Jump] = (),
                    beside_step: Callable[[], Any] | None = None) -> StepView:
    """The graph, the step-through, the node table and the lesson of the analysis in `state`, wired
    to step in the session's language: Prev / Next and the slider over the steps (the opening as one
    step unless "show every step" is ticked), and a button per jump. `under_narration()` builds
    whatever the caller places below the narration (the neck tabs' quiz), `beside_step()` what it
    places beside the step's figure (a lesson's view of the step)."""
    # One step on one screen (1280×720 and up): Prev / Next over the graph, the step's map and its
    # narration side by side under it; the boxes sized in viewport heights (STEP_HEIGHTS).
    with gr.Row(elem_classes="step-controls"):
        prev = localised(gr.Button, {"value": "neck.prev"}, elem_id=f"{key}-prev", scale=0, min_width=100)
        step = localised(gr.Slider, {"label": "neck.step"}, minimum=0, maximum=1, value=0, step=1,
                         elem_id=f"{key}-step")
        nxt = localised(gr.Button, {"value": "neck.next"}, elem_id=f"{key}-next", scale=0, min_width=100)
    graph = figure_box("neck.graph", f"{key}-graph", height=STEP_HEIGHTS["graph"])
    with gr.Row():
        with gr.Column(scale=3):
            step_view = figure_box("neck.stepfig", f"{key}-stepfig", height=STEP_HEIGHTS["map"])
            with gr.Row(equal_height=True):
                every = localised(gr.Checkbox, {"label": "step.every"}, value=False, elem_id=f"{key}-every",
                                  scale=0, min_width=260)
                buttons = [localised(gr.Button, {"value": f"step.jump.{jump.key}"}, size="sm", visible=False,
                                     scale=0, min_width=240, elem_id=f"{key}-jump-{jump.key}".replace("_", "-"))
                           for jump in jumps]
            beside = beside_step() if beside_step is not None else None
        with gr.Column(scale=2):
            words = gr.Markdown(elem_id=f"{key}-narration", elem_classes="narration")
            with localised(gr.Accordion, {"label": "lesson.accordion"}, open=False, elem_id=f"{key}-lesson-mode"):
                lesson = localised(gr.Markdown, {"value": "lesson.intro"}, elem_id=f"{key}-lesson")
            extra = under_narration()
    table = localised(gr.Dataframe, {"label": "neck.table", "headers": node_table_headers}, interactive=False,
                      elem_id=f"{key}-table", elem_classes="node-table", wrap=True, column_widths=NODE_TABLE_WIDTHS)
    shown = Shows(StepShown, graph=graph, figure=step_view, narration=words)
    stepped = [session, state, step, every]
    step.change(event(show_step, shown), stepped, shown.outputs, api_name=f"{key.replace('-', '_')}_step",
                concurrency_id=STEPS, concurrency_limit=STEP_WORKERS)  # light: never behind a model run
    regrouped = every.input(event(regroup), stepped, [step], api_visibility="private")
    regrouped.then(event(show_step, shown), stepped, shown.outputs, api_visibility="private")
    # Prev / Next move the slider in the page, without a round trip: its change event draws the step.
    around = gr.JSON(None, visible=False, elem_id=f"{key}-around")
    shown_now = [graph, step_view, words]
    around.change(None, [around, graph], None, js=PRELOAD)
    for button, by in ((prev, -1), (nxt, 1)):
        button.click(None, [step, around, *shown_now], shown_now,
                     js=SHOW_STEP.replace("KEY", key).replace("BY", str(by))
                     ).then(None, [step], [step], js=MOVE_STEP.replace("KEY", key).replace("BY", str(by)))
    for target, button in zip(jumps, buttons):
        button.click(reading(partial(jump, target)), [state, every], [step], api_visibility="private")
    boxes = StepBoxes(graph, step, step_view, words, table, lesson, every, buttons)
    return StepView(boxes, regrouped, around, extra, beside)
