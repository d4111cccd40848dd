"""What a lesson is, and the figures every lesson shares (the graph, one figure per step).

A lesson is one object in its own module of this package, keyed by the registry key of its neck:
its figures (drawn on demand, shared by the app's panel and the figure pack, so a pack shows what
the tab shows) and its panel (the Gradio components under the neck's tab). Figures are listed with
a `make` function rather than drawn at once: a pack draws, saves and drops them one at a time (a
NAS-FPN pack holds dozens), and reports progress as it goes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from necklab.graph.steps import Jump
from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.models.registry import NECKS
from necklab.viz.graph import GraphPicture, slide_turned
from necklab.viz.lesson import guidance
from necklab.widgets.tab import TabHooks


@dataclass(frozen=True)
class LessonFigure:
    """One figure of a lesson: a file-safe name, a caption, and how to draw it. `node` names the
    step a step figure shows (its narration goes with it in the pack)."""

    name: str
    caption: str
    make: Callable[[], Figure]
    node: str | None = None


@dataclass(frozen=True)
class Lesson:
    """A neck's own lesson. `figures(analysis, lang)` lists its figures; `panel(tab)` builds its
    components inside the neck's tab and hooks them to the tab's runs (what `beside_step()` built
    beside the step's figure is the tab's `beside_step`). Necks sharing a tab share the lesson
    registered for any of them."""

    neck: str  # the registry key
    figures: Callable[[Analysis, str], list[LessonFigure]] | None = None
    panel: Callable[[TabHooks], None] | None = None
    jumps: tuple[Jump, ...] = ()  # the parts of the neck the step-through has a button to jump to
    beside_step: Callable[[], Any] | None = None  # builds components beside the step's figure (for `panel`)


def caption(key: str, lang: str, **fields: object) -> str:
    return t(f"caption.{key}", lang, **fields)


def first_stage(analysis: Analysis) -> int | None:
    """The first of the stages a neck repeats (NAS-FPN stages, BiFPN cells, Recursive-FPN passes);
    None for necks without repeats."""
    stages = sorted({n.stage for n in analysis.topology.nodes if n.stage is not None})
    return stages[0] if len(stages) > 1 else None


def step_nodes(analysis: Analysis) -> list[str]:
    """The steps a pack draws: all of them, or — where a neck repeats stages — the nodes before the
    stages and those of the first stage (the others repeat it)."""
    stage = first_stage(analysis)
    return [n.id for n in analysis.topology.nodes if stage is None or n.stage in (None, stage)]


def lesson_steps(analysis: Analysis) -> list[str]:
    """The steps a lesson shows: of `step_nodes`, the first of each kind — the kind being what the
    lesson mode says to look at (its op, and how its inputs arrive: an add of an upsampled coarser
    level is not one of a shrunk finer level)."""
    kinds: dict[str, str] = {}
    for node in step_nodes(analysis):
        kinds.setdefault(guidance(analysis, analysis.topology.node(node), "en")[0], node)
    return list(kinds.values())


def file_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def graph_figure(analysis: Analysis, lang: str = "en") -> Figure:
    """The graph laid out for a 16:9 slide, every node labelled with its shape, nothing
    highlighted: the lesson's steps (`step_nodes`: all of them, or up to the first of the stages a
    neck repeats — seven NAS-FPN stages would not fit a slide)."""
    shapes = {node: tuple(x.shape) for node, x in analysis.trace.tensors.items()}
    return GraphPicture(analysis.topology, shapes, step_nodes(analysis), stepping=False, lang=lang, slide=True,
                        title=t("graph.title", lang, name=analysis.title)).figure(None)


def graph_caption(analysis: Analysis, lang: str = "en") -> str:
    """The graph figure's caption, saying which way the slide layout runs and which stage it shows."""
    key = "graph_turned" if slide_turned(analysis.topology, step_nodes(analysis)) else "graph"
    words = caption(key, lang, neck=NECKS[analysis.neck_name].title)
    first = first_stage(analysis)
    return words if first is None else words + caption("graph_stage", lang, first=first)
