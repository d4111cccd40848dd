"""Every neck tab's "Detections": what the trained head answers on the session's picture (boxes
coloured by the level that produced them, each level's class heatmap; ASPP's segmentation), with a
score threshold (necklab.viz.detections); on a neck without answers, words saying why.

Light on purpose: the figure is drawn only while the accordion is open — when it opens, when the
threshold moves, and after a run or a language switch if it is open then. A session keeps what it
last drew (the analysis's key, the language and the threshold) and never draws the same twice.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from necklab.i18n import t
from necklab.lab.analysis import Analysis, keep_analysis
from necklab.viz.detections import (
    MAX_THRESHOLD,
    MIN_THRESHOLD,
    THRESHOLD,
    detections_figure,
    detections_note,
    threshold_of,
)
from necklab.widgets.common import figure_box, image, number
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised


@dataclass(frozen=True)
class Drawn:
    """What a session's panel shows: the analysis (by key), the language and the threshold."""

    analysis: str
    lang: str
    threshold: float


@dataclass(frozen=True)
class Answered:
    """The figure (None without answers, or while the panel is closed), its words, and what was drawn."""

    figure: Any
    note: str
    drawn: Drawn | None


def answered(session: Session, analysis: Analysis, threshold: float) -> Answered:
    """The head's answers on the analysis above `threshold`, or why there are none."""
    lang = session.lang
    drawn = Drawn(keep_analysis(analysis).key, lang, threshold)
    if analysis.answers is None:
        return Answered(figure=None, note=detections_note(analysis, threshold, lang), drawn=drawn)
    return Answered(figure=image(detections_figure(analysis, threshold, lang)),
                    note=detections_note(analysis, threshold, lang), drawn=drawn)


def show(session: Session, analysis: Analysis | None, value: Any, last: Drawn | None) -> Answered | None:
    """The panel opened or the threshold moved: draw, unless it shows this already (None: nothing
    changes — also before the tab's first run)."""
    if analysis is None:
        return None
    threshold = threshold_of(number(value, session.lang))  # an API client's value too
    if last == Drawn(keep_analysis(analysis).key, session.lang, threshold):
        return None
    return answered(session, analysis, threshold)


def redraw(session: Session, analysis: Analysis, value: Any, opened: bool, last: Drawn | None) -> Answered:
    """After a run or a language switch: drawn again if the panel is open; else emptied (it is
    drawn when opened)."""
    if opened:
        return show(session, analysis, value, last) or Answered(gr.skip(), gr.skip(), last)
    return Answered(figure=None, note=t("det.closed", session.lang), drawn=None)


@dataclass(frozen=True)
class DetectionSection:
    """The components of a tab's detections panel; `wire(tab)` hooks them to the tab's runs."""

    key: str
    accordion: gr.Accordion
    threshold: gr.Slider
    figure: gr.Image
    note: gr.Markdown
    opened: gr.State
    drawn: gr.State

    def wire(self, tab: TabHooks) -> None:
        shows = Shows(Answered, figure=self.figure, note=self.note, drawn=self.drawn)
        inputs = [tab.session, tab.state, self.threshold, self.drawn]
        self.accordion.expand(lambda: True, None, [self.opened], api_visibility="private").then(
            event(show, shows), inputs, shows.outputs, api_visibility="private")
        self.accordion.collapse(lambda: False, None, [self.opened], api_visibility="private")
        self.threshold.input(event(show, shows), inputs, shows.outputs, trigger_mode="always_last",
                             api_name=f"{self.key.replace('-', '_')}_detections")
        tab.redraw_after_run(redraw, shows, [self.threshold, self.opened, self.drawn])


def detection_section(key: str) -> DetectionSection:
    """Build the detections panel (call inside the tab, where it should appear): a closed accordion
    with the threshold slider, the figure and its words."""
    with localised(gr.Accordion, {"label": "det.accordion"}, open=False, elem_id=f"{key}-det") as accordion:
        localised(gr.Markdown, {"value": "det.intro"})
        threshold = localised(gr.Slider, {"label": "det.threshold"}, minimum=MIN_THRESHOLD, maximum=MAX_THRESHOLD,
                              value=THRESHOLD, step=0.05, elem_id=f"{key}-det-threshold")
        note = gr.Markdown(elem_id=f"{key}-det-note")  # its words come with the figure, in the session's language
        figure = figure_box("det.figure", f"{key}-det-figure")
    return DetectionSection(key, accordion, threshold, figure, note, gr.State(False), gr.State(None))
