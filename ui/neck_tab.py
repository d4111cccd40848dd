"""A tab for one or more necks of the registry: config controls, graph, step-through, shapes.

Every neck in `necks.registry.NECKS` gets one of these (necks sharing a `tab` share it), so a new
registry entry appears in the app without editing app.py. Lesson-specific panels hook in through
`ui.lessons`.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from threading import Lock
from typing import Any

import gradio as gr
import numpy as np

from necks.analysis import Analysis, analyse
from necks.imaging import Picture
from necks.registry import Control, NeckSpec
from viz.graph import GraphPicture, focus_nodes
from viz.step import NODE_TABLE_HEADERS, narration, node_table, step_figure

from .common import NO_PICTURE, figure_box, image, out_of_memory_as_message, session_picture
from .export import export_box
from .quiz import quiz_box

INIT_NOTE = ("Backbone: EfficientNet-Lite0 with ImageNet weights. The neck's own weights are freshly "
             "initialised as its reference initialises them (seed 0, reproducible): no trained neck "
             "weights exist offline, so look at structure, shapes and how information flows — not at "
             "what a trained detector would respond to.")


def parse_config(spec: NeckSpec, values: Sequence[Any]) -> dict[str, Any]:
    """Turn the control values of one neck into its build arguments, with clear messages."""
    config: dict[str, Any] = {}
    for control, value in zip(spec.controls, values):
        config[control.arg] = parse_value(control, value)
    return config


def parse_value(control: Control, value: Any) -> Any:
    if control.kind == "int":
        return int(value)
    if control.kind == "choice":
        return {str(c): c for c in control.choices}[str(value)]
    try:
        numbers = tuple(int(part) for part in str(value).replace(",", " ").split())
    except ValueError:
        raise gr.Error(f"{control.label}: type whole numbers separated by commas, e.g. "
                       f"{', '.join(map(str, control.default))}.") from None
    if not numbers or any(not control.minimum <= n <= control.maximum for n in numbers):
        raise gr.Error(f"{control.label}: give one or more numbers from {control.minimum} to {control.maximum}.")
    if len(set(numbers)) != len(numbers):
        raise gr.Error(f"{control.label}: each number may appear only once.")
    return numbers


def control_component(control: Control, elem_id: str) -> gr.components.Component:
    if control.kind == "int":
        return gr.Slider(control.minimum, control.maximum, value=control.default, step=control.step,
                         label=control.label, elem_id=elem_id)
    if control.kind == "choice":
        labels = control.labels or tuple(str(c) for c in control.choices)
        return gr.Dropdown(list(zip(labels, map(str, control.choices))), value=str(control.default),
                           label=control.label, elem_id=elem_id)
    return gr.Textbox(", ".join(map(str, control.default)), label=f"{control.label} (comma-separated)",
                      elem_id=elem_id)


def summary(analysis: Analysis, spec: NeckSpec) -> str:
    t = analysis.timings
    outputs = ", ".join(f"`{o}` {'×'.join(map(str, analysis.trace[o].shape[1:]))}" for o in analysis.outputs)
    return (f"**{spec.title}** — {spec.paper}. Structure after {spec.reference_source}.\n\n"
            f"Parameters: **{analysis.params:,}** · FLOPs: **{analysis.flops / 1e9:.3f} G** "
            f"(torch.utils.flop_counter) · neck forward {t['neck'] * 1000:.0f} ms on {analysis.device} "
            f"(building or fetching the neck {t['neck build'] * 1000:.0f} ms; the backbone took "
            f"{t['backbone'] * 1000:.0f} ms once per picture) · "
            f"{len(analysis.topology.nodes)} nodes.\n\nOutputs: {outputs}.")


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

    def chain(self, event: Any) -> Any:
        """Redraw the lesson panels after an event that may have rerun the neck."""
        for fn, inputs, outputs in self.after_run:
            event = event.then(fn, inputs, outputs, api_visibility="private")
        return event

    def redraw_after_run(self, draw: Callable[..., tuple], outputs: list, inputs: Sequence = ()) -> None:
        """Redraw a panel whenever the tab's analysis changes, and only then: a per-session state
        keeps the analysis last drawn (holding it also keeps its identity unique).
        `draw(analysis, *inputs)` returns the values of `outputs`."""
        drawn = gr.State(None)

        def redraw(analysis: Analysis | None, last: Analysis | None, *values: Any) -> tuple:
            if analysis is None or analysis is last:
                return (gr.skip(),) * (len(outputs) + 1)
            return (*draw(analysis, *values), analysis)

        self.after_run.append((out_of_memory_as_message(redraw), [self.state, drawn, *inputs], [*outputs, drawn]))

    def finish(self) -> None:
        """Call once the panels are built: chains them after the tab's own run events."""
        for event in self.runs:
            self.chain(event)


def slug(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


# Drawn graphs by what they show (neck, config, every node's shape, the nodes drawn): a step then
# redraws only its highlight. Keyed by structure, not by analysis, so no analysis is kept alive.
_graphs: OrderedDict[tuple, GraphPicture] = OrderedDict()
_graphs_lock = Lock()
GRAPH_CACHE = 24


def graph_picture(analysis: Analysis, nodes: list[str] | None) -> GraphPicture:
    shapes = {node: tuple(t.shape) for node, t in analysis.trace.tensors.items()}
    key = (analysis.neck_name, repr(sorted(analysis.config.items())), tuple(shapes.items()),
           tuple(nodes) if nodes else None)
    with _graphs_lock:
        if key in _graphs:
            _graphs.move_to_end(key)
            return _graphs[key]
    picture = GraphPicture(analysis.topology, shapes, nodes)
    with _graphs_lock:
        _graphs[key] = picture
        while len(_graphs) > GRAPH_CACHE:
            _graphs.popitem(last=False)
    return picture


def render_step(analysis: Analysis, k: int) -> tuple[Any, Any, str]:
    """The graph with step k highlighted, the step's feature map, and its narration."""
    node = analysis.topology.order[int(k)]
    graph = graph_picture(analysis, focus_nodes(analysis.topology, node))
    title = f"{analysis.topology.name}: step {int(k)} highlighted ({node})"
    return graph.image(node, title), image(step_figure(analysis, node)), narration(analysis, node)


@out_of_memory_as_message
def run_neck(specs: list[NeckSpec], session: dict | None, neck_title: str, *values: Any,
             progress: gr.Progress = gr.Progress()) -> tuple:
    """Run the chosen neck of a tab on the session's picture with the values of the tab's controls
    (all its necks' controls, in order); returns the tab's outputs."""
    picture, device = session_picture(session)
    spec = next(s for s in specs if s.title == neck_title)
    start = sum(len(s.controls) for s in specs[:specs.index(spec)])
    config = parse_config(spec, values[start:start + len(spec.controls)])
    progress(0.1, desc=f"Running {spec.title} on {device}")
    try:
        analysis = analyse(picture, spec.name, config, device)
    except ValueError as e:  # a configuration the neck cannot take
        raise gr.Error(f"{spec.title} cannot be built with these settings: {e}") from None
    progress(0.5, desc="Drawing the graph and the first step")
    return (analysis, summary(analysis, spec), *first_step(analysis))


def first_step(analysis: Analysis) -> tuple:
    """A fresh analysis on a step view: graph, slider reset to step 0, its figure, words, node table."""
    graph_img, step_img, text = render_step(analysis, 0)
    last = len(analysis.topology.nodes) - 1
    return graph_img, gr.Slider(0, last, value=0, step=1), step_img, text, node_table(analysis)


def same_picture(a: Picture, b: Picture) -> bool:
    return a is b or (a.original_size == b.original_size and np.array_equal(a.rgb, b.rgb))


def refresh_neck(specs: list[NeckSpec], key: str, session: dict | None, shown: Analysis | None, selected: str,
                 neck_title: str, *values: Any, progress: gr.Progress = gr.Progress()) -> tuple:
    """Run the neck if this tab (`key`) is the one on screen and what it shows is stale."""
    skip = (gr.skip(),) * 7
    if selected != key or not session:
        return skip
    spec = next(s for s in specs if s.title == neck_title)
    if (shown is not None and shown.device == session["device"] and shown.neck_name == spec.name
            and same_picture(shown.picture, session["picture"])):
        return skip
    return run_neck(specs, session, neck_title, *values, progress=progress)


def show_step(analysis: Analysis | None, k: float) -> tuple:
    if analysis is None:
        return (gr.skip(),) * 3
    return render_step(analysis, min(max(int(k), 0), len(analysis.topology.nodes) - 1))


def step_back(k: float) -> int:
    return max(int(k) - 1, 0)


def step_forward(analysis: Analysis | None, k: float) -> int:
    return min(int(k) + 1, len(analysis.topology.nodes) - 1) if analysis else 0


def build_neck_tab(title: str, specs: list[NeckSpec], session: gr.State, current_tab: gr.State) -> NeckTab:
    """Build the tab's components and wire its events (call inside a gr.Tab)."""
    key = slug(title)
    gr.Markdown(INIT_NOTE)
    with gr.Row():
        choice = gr.Radio([s.title for s in specs], value=specs[0].title, label="Neck", elem_id=f"{key}-neck",
                          visible=len(specs) > 1)
    controls: list[gr.components.Component] = []
    with gr.Row():
        for spec in specs:
            for control in spec.controls:
                label_id = f"{key}-{spec.name}-{control.arg}".replace("_", "-")
                comp = control_component(control, label_id)
                if len(specs) > 1:
                    comp.label = f"{spec.title}: {comp.label}"
                controls.append(comp)
        run_button = gr.Button("Run neck", variant="primary", elem_id=f"{key}-run", scale=0, min_width=140)
    info = gr.Markdown(NO_PICTURE, elem_id=f"{key}-summary")
    state = gr.State(None)
    export_box(key, state)
    view, quiz = build_step_view(key, state, partial(quiz_box, key))

    run = partial(run_neck, specs)
    refresh = partial(refresh_neck, specs, key)
    outputs = [state, info, *view]
    runs = [run_button.click(run, [session, choice, *controls], outputs, api_name=f"{key.replace('-', '_')}_run"),
            choice.change(run, [session, choice, *controls], outputs, api_visibility="private")]
    tab = NeckTab(key, specs, state, choice, view[1], refresh, [session, state, current_tab, choice, *controls],
                  outputs, runs)
    quiz.wire(tab)
    return tab


def build_step_view(key: str, state: gr.State, under_narration: Callable[[], Any] = lambda: None
                    ) -> tuple[list[gr.components.Component], Any]:
    """The graph, the step-through and the node table of the analysis in `state`, wired to step.
    `under_narration()` builds whatever the caller places below the narration (the neck tabs' quiz).
    Returns ([graph, step slider, step figure, narration, table] — the values `first_step` fills —,
    what `under_narration` returned)."""
    graph = figure_box("Graph of the neck (current step highlighted)", f"{key}-graph")
    with gr.Row():
        prev = gr.Button("◀ Prev", elem_id=f"{key}-prev", scale=0, min_width=100)
        step = gr.Slider(0, 1, value=0, step=1, label="Step (execution order)", elem_id=f"{key}-step")
        nxt = gr.Button("Next ▶", elem_id=f"{key}-next", scale=0, min_width=100)
    with gr.Row():
        with gr.Column(scale=3):
            step_view = figure_box("This step's feature map", f"{key}-stepfig")
        with gr.Column(scale=2):
            words = gr.Markdown(elem_id=f"{key}-narration")
            extra = under_narration()
    table = gr.Dataframe(headers=NODE_TABLE_HEADERS, label="Every node: shapes and parameters", interactive=False,
                         elem_id=f"{key}-table", wrap=True)
    step.change(show_step, [state, step], [graph, step_view, words], api_name=f"{key.replace('-', '_')}_step")
    prev.click(step_back, [step], [step], api_visibility="private")
    nxt.click(step_forward, [state, step], [step], api_visibility="private")
    return [graph, step, step_view, words, table], extra
