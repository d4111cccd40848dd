"""Every neck tab's "What does this cell see?": choose a map (it follows the step on screen), click
one of its cells on the picture, and see the cell's theoretical receptive field through each path,
its effective receptive field and its activation (necklab.viz.cell).

A session keeps only what it clicked (the analysis's key, the node, the cell), never a tensor; the
effective receptive field (a backward pass through backbone and neck) runs in the click's event,
which waits in the app's one fair line like every other heavy event.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from necklab.graph.steps import Steps
from necklab.i18n import t
from necklab.lab.analysis import Analysis, keep_analysis
from necklab.lab.cell import activation, cell_fields, cell_under, has_cells
from necklab.lab.erf import cell_erf
from necklab.viz.cell import cell_figure, cell_note, no_cells_words, picker_image, picker_point
from necklab.widgets.common import figure_box, image, no_picture, number, whole
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


@dataclass(frozen=True)
class Clicked:
    """The cell a session last clicked: the key of the analysis (among the kept ones), the node and
    the cell."""

    analysis: str
    node: str
    cell: tuple[int, int]


@dataclass(frozen=True)
class Picked:
    """The map to click: the list of maps (set to the one shown), the picture to click with the map's
    cells on it (None for a map without cells), and what to do."""

    node: Any
    picker: Any
    note: str


@dataclass(frozen=True)
class Seen:
    """What a clicked cell sees: the figure, its words, the picture to click with the cell outlined,
    and the click (kept to redraw in another language)."""

    picker: Any
    figure: Any
    note: str
    clicked: Clicked | None


@dataclass(frozen=True)
class Redrawn(Seen):
    """After a run or a language switch: also the list of maps."""

    node: Any


def step_node(analysis: Analysis, k: float, lang: str = "en", every: bool = False) -> str:
    """The node of step k: the first of its nodes with cells (the opening shows several maps)."""
    steps = Steps.of(analysis.topology, bool(every))
    nodes = steps[min(max(whole(k, lang), 0), steps.last)]
    return next((n for n in nodes if has_cells(analysis, n)), nodes[0])


def _picked(analysis: Analysis, node: str, lang: str) -> tuple[Any, str]:
    """The picture to click for a node, and what to do (or why there is nothing to click)."""
    if not has_cells(analysis, node):
        return None, no_cells_words(analysis, node, lang)
    level = analysis.topology.node(node).level
    rows, cols = analysis.trace[node].shape[-2:]
    return picker_image(analysis, node), t("cell.waiting", lang, node=node, rows=rows, cols=cols,
                                           stride=2 ** (level or 0))


def pick(session: Session, analysis: Analysis | None, node: str) -> Picked | None:
    """A map chosen from the list: the picture to click with its cells."""
    if analysis is None or node not in analysis.trace.tensors:
        return None
    picker, note = _picked(analysis, node, session.lang)
    return Picked(node=gr.skip(), picker=picker, note=note)


def follow(session: Session, analysis: Analysis | None, k: float, every: bool = False) -> Picked | None:
    """The step on screen changed: its map is the one to click."""
    if analysis is None:
        return None
    node = step_node(analysis, k, session.lang, every)
    picker, note = _picked(analysis, node, session.lang)
    return Picked(node=gr.Dropdown(choices=analysis.topology.order, value=node), picker=picker, note=note)


def seen(session: Session, analysis: Analysis, node: str, cell: tuple[int, int]) -> Seen:
    """The figure and words of what a cell of a node sees (its ERF: a backward pass, kept by recipe)."""
    lang = session.lang
    fields = cell_fields(analysis, node, cell)
    act = activation(analysis, node, cell)
    erf = cell_erf(analysis, node, cell)
    figure = image(cell_figure(analysis, node, cell, fields, erf, act, lang))
    return Seen(picker=picker_image(analysis, node, cell), figure=figure,
                note=cell_note(analysis, node, cell, fields, act, erf, lang),
                clicked=Clicked(keep_analysis(analysis).key, node, cell))


def click(session: Session, analysis: Analysis | None, node: str, evt: gr.SelectData) -> Seen:
    """A click on the picture to click (its pixels) → the node's cell under it → what it sees."""
    if analysis is None:
        raise no_picture(session.lang)
    if node not in analysis.trace.tensors or not has_cells(analysis, node):
        raise gr.Error(no_cells_words(analysis, node, session.lang) if node in analysis.trace.tensors
                       else t("cell.none", session.lang))
    index = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else (None, None)
    x, y = picker_point(analysis.picture, *(number(v, session.lang) for v in index))  # an API client's too
    return seen(session, analysis, node, cell_under(analysis, node, x, y))


def redraw(session: Session, analysis: Analysis, k: float, every: bool, clicked: Clicked | None) -> Redrawn:
    """After a run or a language switch: the cell last clicked on this analysis drawn again (in the
    session's language), or the step's map to click and an empty figure."""
    if (clicked is not None and clicked.analysis == keep_analysis(analysis).key
            and clicked.node in analysis.trace.tensors):
        shown = seen(session, analysis, clicked.node, clicked.cell)
        return Redrawn(**vars(shown), node=gr.Dropdown(choices=analysis.topology.order, value=clicked.node))
    picked = follow(session, analysis, k, every)
    assert picked is not None  # an analysis
    return Redrawn(picker=picked.picker, figure=None, note=picked.note, clicked=None, node=picked.node)


@dataclass(frozen=True)
class CellSection:
    """The components of a tab's cell view; `wire(tab)` hooks them to the tab's step and runs."""

    key: str
    node: gr.Dropdown
    picker: gr.Image
    figure: gr.Image
    note: gr.Markdown
    clicked: gr.State

    def wire(self, tab: TabHooks) -> None:
        picked = Shows(Picked, node=self.node, picker=self.picker, note=self.note)
        tab.follow_step(event(follow, picked), [tab.session, tab.state, tab.step, tab.every], picked.outputs)
        self.node.input(event(pick, picked), [tab.session, tab.state, self.node], picked.outputs,
                        api_visibility="private")
        shown = Shows(Seen, picker=self.picker, figure=self.figure, note=self.note, clicked=self.clicked)
        self.picker.select(event(click, shown), [tab.session, tab.state, self.node], shown.outputs,
                           api_name=f"{self.key.replace('-', '_')}_cell")
        tab.redraw_after_run(redraw, Shows(Redrawn, node=self.node, picker=self.picker, figure=self.figure,
                                           note=self.note, clicked=self.clicked),
                             [tab.step, tab.every, self.clicked])


def cell_section(key: str) -> CellSection:
    """Build the cell view (call inside the tab, where it should appear): an accordion with the
    list of maps and the picture to click beside the figure and its words."""
    with localised(gr.Accordion, {"label": "cell.accordion"}, open=False, elem_id=f"{key}-cell"):
        localised(gr.Markdown, {"value": "cell.intro"})
        with gr.Row():
            with gr.Column(scale=2, min_width=260):
                node = localised(gr.Dropdown, {"label": "cell.node"}, choices=[], value=None,
                                 elem_id=f"{key}-cell-node")
                picker = localised(gr.Image, {"label": "cell.pick"}, interactive=False, format="png",
                                   elem_id=f"{key}-cell-pick")
            with gr.Column(scale=5):
                figure = figure_box("cell.figure", f"{key}-cell-figure")
                note = gr.Markdown(elem_id=f"{key}-cell-note")
    return CellSection(key, node, picker, figure, note, gr.State(None))
