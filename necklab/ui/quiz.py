"""Predict-the-shape quiz under a neck tab's step-through: at step k the learner types the C×H×W of
node k+1 before it is revealed; the answer is checked against the trace and, when wrong, the rule
that gives the shape is explained with the node's own numbers (necklab.lab.shape_rules). One score per
neck tab and browser session, with a reset. The handlers are module-level, called by the tests."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from necklab.i18n import strings, t
from necklab.lab.analysis import Analysis
from necklab.lab.shape_rules import check, question, shape_text
from necklab.widgets.common import no_picture
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised

Score = dict[str, Any]  # {"right": int, "answered": int, "seen": list of answered questions}

# The quiz's words in English (the data files hold both languages: quiz.*).
TEXT = {key.removeprefix("quiz."): text for key, text in strings("en").items() if key.startswith("quiz.")}


def new_score() -> Score:
    return {"right": 0, "answered": 0, "seen": []}


def score_text(score: Score | None, lang: str = "en") -> str:
    score = score or new_score()
    return t("quiz.score", lang, right=score["right"], answered=score["answered"]) if score["answered"] else \
        t("quiz.no_score", lang)


def _last(analysis: Analysis) -> int:
    return len(analysis.topology.nodes) - 1


def ask(analysis: Analysis | None, k: float, lang: str = "en") -> str:
    """The question about the node after step k (or the end of the lesson)."""
    if analysis is None:
        return t("common.no_picture", lang)
    k = int(k)
    if k >= _last(analysis):
        return t("quiz.done", lang, score="")
    return question(analysis, analysis.topology.order[k + 1], lang)


def answer(analysis: Analysis | None, k: float, typed: str, score: Score | None, lang: str = "en") -> tuple:
    """Check a typed shape for the node after step k: feedback, score, score text, the step to
    show (the node, now revealed) and the cleared answer box."""
    if analysis is None:
        raise no_picture(lang)
    score = dict(score or new_score())
    k = int(k)
    if k >= _last(analysis):
        return t("quiz.done", lang, score=score_text(score, lang)), score, score_text(score, lang), k, typed
    node = analysis.topology.order[k + 1]
    verdict = check(analysis, node, typed, lang)
    if verdict.given is None:
        return t("quiz.unreadable", lang), score, score_text(score, lang), k, typed
    # A question is one node of one neck and configuration on one picture: answering it again
    # (after stepping back) does not count twice.
    key = [analysis.neck_name, repr(sorted(analysis.config.items())), node, list(verdict.answer),
           list(analysis.picture.rgb.shape)]
    again = key in score["seen"]
    if not again:
        score = {"right": score["right"] + verdict.right, "answered": score["answered"] + 1,
                 "seen": [*score["seen"], key]}
    feedback = t("quiz.right" if verdict.right else "quiz.wrong", lang, answer=shape_text(verdict.answer),
                 given=shape_text(verdict.given), node=node, rule=verdict.explanation.text)
    feedback += t("quiz.again", lang) if again else ""
    return feedback, score, score_text(score, lang), k + 1, ""


def reset(lang: str = "en") -> tuple[Score, str, str]:
    return new_score(), score_text(None, lang), ""


@dataclass
class Quiz:
    """The quiz's components, built inside the tab's layout and wired once the tab exists."""

    key: str
    ask: gr.Markdown
    typed: gr.Textbox
    check: gr.Button
    feedback: gr.Markdown
    score_view: gr.Markdown
    reset: gr.Button
    score: gr.State

    def wire(self, tab: TabHooks) -> None:
        # the step on screen: 0 after a run, where the learner was after a language switch
        tab.redraw_after_run(lambda analysis, k, lang="en": (ask(analysis, k, lang), ""), [self.ask, self.feedback],
                             [tab.step])
        tab.step.change(ask, [tab.state, tab.step, tab.language], [self.ask], api_visibility="private")
        outputs = [self.feedback, self.score, self.score_view, tab.step, self.typed]
        inputs = [tab.state, tab.step, self.typed, self.score, tab.language]
        self.check.click(answer, inputs, outputs, api_name=f"{self.key.replace('-', '_')}_quiz")
        self.typed.submit(answer, inputs, outputs, api_visibility="private")
        self.reset.click(reset, tab.language, [self.score, self.score_view, self.feedback], api_visibility="private")


def quiz_box(key: str) -> Quiz:
    """Build the quiz's components where the tab places them."""
    with localised(gr.Accordion, {"label": "quiz.title"}, open=True, elem_id=f"{key}-quiz"):
        localised(gr.Markdown, {"value": "quiz.intro"})
        asked = localised(gr.Markdown, {"value": "common.no_picture"}, elem_id=f"{key}-quiz-question")
        with gr.Row():
            typed = localised(gr.Textbox, {"label": "quiz.answer", "placeholder": "quiz.placeholder"},
                              elem_id=f"{key}-quiz-answer", scale=3)
            check_button = localised(gr.Button, {"value": "quiz.check"}, variant="primary", elem_id=f"{key}-quiz-check",
                                     scale=1, min_width=90)
        feedback = gr.Markdown(elem_id=f"{key}-quiz-feedback")
        with gr.Row():
            score_view = localised(gr.Markdown, {"value": "quiz.no_score"}, elem_id=f"{key}-quiz-score")
            reset_button = localised(gr.Button, {"value": "quiz.reset"}, size="sm", elem_id=f"{key}-quiz-reset", scale=0,
                                     min_width=120)
    return Quiz(key, asked, typed, check_button, feedback, score_view, reset_button, gr.State(new_score()))
