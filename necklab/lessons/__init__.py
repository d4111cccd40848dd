"""The lessons: one module per neck lesson (its figures, panel and captions), found here.

A module of this package that defines `LESSON` (a `Lesson` keyed by its neck's registry key) is a
lesson: its panel appears under the neck's tab and its figures in the neck's figure pack, with no
other edit. `register` adds one from elsewhere.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from functools import partial

from necklab.lab.analysis import Analysis
from necklab.lessons.base import Lesson, LessonFigure, caption, file_safe, graph_caption, graph_figure, lesson_steps
from necklab.models.registry import NECKS
from necklab.viz.step import step_figure

LESSONS: dict[str, Lesson] = {}


def register(lesson: Lesson) -> Lesson:
    LESSONS[lesson.neck] = lesson
    return lesson


def unregister(neck: str) -> None:
    LESSONS.pop(neck, None)


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        lesson = getattr(importlib.import_module(f"{__name__}.{module.name}"), "LESSON", None)
        if lesson is not None:
            register(lesson)


def lesson_for(neck: str) -> Lesson | None:
    """The lesson of a neck: its own, or the one of a neck sharing its tab (SPP-net, YOLO SPP and
    SPPF share the SPP lesson)."""
    if neck in LESSONS:
        return LESSONS[neck]
    tab = NECKS[neck].tab_title
    return next((lesson for key, lesson in LESSONS.items() if key in NECKS and NECKS[key].tab_title == tab), None)


def lesson_figures(analysis: Analysis, steps: Sequence[str] | None = None, lang: str = "en") -> list[LessonFigure]:
    """The lesson of the analysed neck: its graph, one figure per step (`steps`, default
    `lesson_steps`: one of each kind), then its lesson's own figures, the first of them the one
    that shows the neck's key idea."""
    order = analysis.topology.order
    figures = [LessonFigure("graph", graph_caption(analysis, lang), lambda: graph_figure(analysis, lang))]
    for node in lesson_steps(analysis) if steps is None else steps:
        k = order.index(node)
        figures.append(LessonFigure(f"step-{k:03d}-{file_safe(node)}", caption("step", lang, k=k, node=node),
                                    partial(step_figure, analysis, node, lang=lang), node))
    lesson = lesson_for(analysis.neck_name)
    return figures + (lesson.figures(analysis, lang) if lesson and lesson.figures else [])


_discover()
