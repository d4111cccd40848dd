"""lesson.md as a lesson plan, in the pack's language: the neck's key idea, the figure that shows
it, the graph, one step of each kind of operation (its narration, what to look at, its figure),
a predict-the-shape quiz with answers (the app's own questions and rules), what to try live in the
app, then the picture, the other figures and every node's shape for reference."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.shape_rules import explain, question, quiz_nodes
from necklab.lab.words import shown_words, top_classes
from necklab.lessons.base import LessonFigure, first_stage, step_nodes
from necklab.models.registry import NECKS
from necklab.models.spec import Control
from necklab.viz.lesson import look_text
from necklab.viz.slide import SLIDE_DPI, SLIDE_PX
from necklab.viz.step import narration, node_table, node_table_headers
from necklab.widgets.controls import control_label


def image(figure: LessonFigure, lang: str) -> str:
    return (f"![{figure.caption}](figures/{figure.name}.png)\n\n"
            f"*{figure.caption}* · [{t('pack.svg', lang)}](figures/{figure.name}.svg)")


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _numbered(items: Sequence[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def quiz(analysis: Analysis, lang: str = "en") -> list[str]:
    """The quiz section: a question per rule kind (the app's Predict-the-shape questions), then
    the answers, each with the rule that gives it in this picture's numbers."""
    nodes = quiz_nodes(analysis, step_nodes(analysis))
    # each rule's words end with the shape they give: "… → **64×19×29**"
    answers = [t("pack.plan.answer", lang, node=node, rule=explain(analysis, node, lang).text) for node in nodes]
    return [t("pack.plan.quiz", lang), t("pack.plan.quiz_intro", lang),
            _numbered([question(analysis, node, lang) for node in nodes]),
            t("pack.plan.answers", lang), _numbered(answers)]


def _value_words(control: Control, value: Any, lang: str) -> str:
    if control.choice_keys and value in control.choices:
        return control_label(control, lang, control.choice_keys[control.choices.index(value)])
    return ", ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)


def try_live(analysis: Analysis, lang: str = "en") -> list[str]:
    """What to try in the app: step through with lesson mode, the quiz, each of the neck's settings
    (its value here and what changing it shows), another picture."""
    spec = NECKS[analysis.neck_name]
    settings = [t("pack.try.setting", lang, label=control_label(control, lang),
                  value=_value_words(control, analysis.config.get(control.arg, control.default), lang),
                  look=t(f"pack.try.{control.arg}", lang))
                for control in spec.controls]
    items = [t("pack.try.step", lang), t("pack.try.quiz", lang), *settings, t("pack.try.picture", lang)]
    return [t("pack.plan.try", lang), t("pack.plan.try_intro", lang, tab=spec.tab_title),
            "\n".join(f"- {item}" for item in items)]


def top5_words(analysis: Analysis, lang: str = "en") -> str:
    """The backbone's top-5 classes named in `lang` with their probabilities: '埃及猫 87%、虎斑猫 6%…'."""
    named = top_classes(analysis.backbone.top5, lang)
    return t("pack.top5_sep", lang).join(f"{name} {p:.0%}" for name, p in named.items())


def lesson_markdown(analysis: Analysis, figures: list[LessonFigure], picture_name: str, lang: str = "en") -> str:
    """lesson.md in `lang`, as a lesson plan (see the module's docstring)."""
    spec = NECKS[analysis.neck_name]
    topology = analysis.topology
    h, w = analysis.picture.rgb.shape[:2]
    outputs = ", ".join(f"`{o}` {'×'.join(map(str, analysis.trace[o].shape[1:]))}" for o in analysis.outputs)
    config = ", ".join(f"{k}={v}" for k, v in analysis.config.items()) or t("pack.default_config", lang)
    graph = [f for f in figures if f.name == "graph"]
    steps = [f for f in figures if f.node is not None]
    own = [f for f in figures if f.node is None and f.name != "graph"]
    parts = [t("pack.title", lang, neck=spec.title, picture=picture_name),
             t("pack.plan.key_idea", lang), t(f"lesson.idea.{analysis.neck_name}", lang),
             shown_words("pack.intro", analysis.weights, lang, seed=analysis.seed),
             t("pack.facts", lang, title=spec.title, paper=spec.paper, config=config, width=w, height=h,
               device=analysis.device, params=f"{analysis.params:,}", nodes=len(topology.nodes), outputs=outputs),
             t("pack.files", lang, dpi=SLIDE_DPI, width=SLIDE_PX[0], height=SLIDE_PX[1])]
    if own:
        parts += [t("pack.plan.figure", lang), image(own[0], lang)]
    parts += [t("pack.graph", lang), *(image(f, lang) for f in graph)]
    parts += [t("pack.plan.steps", lang), t("pack.plan.steps_intro", lang, n=len(steps), last=len(topology.nodes) - 1)]
    first = first_stage(analysis)
    if first is not None:
        count = len({n.stage for n in topology.nodes} - {None})
        parts.append(t("pack.stages", lang, neck=spec.title, count=count, first=first))
    for f in steps:
        assert f.node is not None
        parts += [narration(analysis, f.node, lang), look_text(analysis, f.node, lang), image(f, lang)]
    parts += quiz(analysis, lang) + try_live(analysis, lang)
    parts += [t("pack.picture", lang), f"![{t('pack.the_picture', lang)}](picture.png)",
              t("pack.top5", lang, classes=top5_words(analysis, lang))]
    if own[1:]:
        parts += [t("pack.panel", lang), *(image(f, lang) for f in own[1:])]
    parts += [t("pack.shapes", lang), markdown_table(node_table_headers(lang), node_table(analysis, lang))]
    return "\n\n".join(parts) + "\n"
