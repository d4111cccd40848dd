"""Predict-the-shape quiz under a neck tab's step-through: at step k the learner types the C×H×W of
the node of step k+1 (its first node, after the opening shown as one step) before it is revealed;
the answer is checked against the trace and, when wrong, the rule that gives the shape is explained
with the node's own numbers (necklab.lab.shape_rules). One score per neck tab and browser session,
with a reset. The handlers are module-level, called by the tests."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from necklab.graph.steps import Steps
from necklab.i18n import strings, t
from necklab.lab.analysis import Analysis
from necklab.lab.shape_rules import MAX_ANSWER, check, question, shape_text
from necklab.widgets.common import no_picture, whole
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.tab import TabHooks
from necklab.widgets.text import localised

# The quiz's words in English (the data files hold both languages: quiz.*).
TEXT = {key.removeprefix("quiz."): text for key, text in strings("en").items() if key.startswith("quiz.")}


@dataclass(frozen=True)
class Score:
    """One learner's score in one neck tab: right answers, answers, and the questions answered
    (each: neck, configuration, node, shape, picture size), so that none counts twice."""

    right: int = 0
    answered: int = 0
    seen: tuple[tuple[Any, ...], ...] = ()


@dataclass(frozen=True)
class Scored:
    """The feedback on an answer (or a reset), the score and its text."""

    feedback: str
    score: Score
    score_text: str


@dataclass(frozen=True)
class Answered(Scored):
    """An answer checked: also the step to show (the node, now revealed) and the answer box."""

    step: int
    typed: str


@dataclass(frozen=True)
class Asked:
    """A new question, and no feedback yet."""

    question: str
    feedback: str


def score_text(score: Score, lang: str = "en") -> str:
    return t("quiz.score", lang, right=score.right, answered=score.answered) if score.answered else \
        t("quiz.no_score", lang)


def ask(session: Session, analysis: Analysis | None, k: float, every: bool = False) -> str:
    """The question about the node after step k (or the end of the lesson); `every`: the steps are
    one per node, else the opening is one step."""
    lang = session.lang
    if analysis is None:
        return t("common.no_picture", lang)
    k = whole(k, lang)
    steps = Steps.of(analysis.topology, bool(every))
    if k >= steps.last:
        return t("quiz.last", lang)
    return question(analysis, steps[k + 1][0], lang, k + 1)


def answer(session: Session, analysis: Analysis | None, k: float, typed: str, score: Score,
           every: bool = False) -> Answered:
    """Check a typed shape for the node after step k (steps as `ask` counts them)."""
    lang = session.lang
    if analysis is None:
        raise no_picture(lang)
    k = whole(k, lang)
    typed = typed or ""
    if len(typed) > MAX_ANSWER:  # an API client can send any length; no shape needs this many characters
        raise gr.Error(t("quiz.too_long", lang, most=MAX_ANSWER))
    steps = Steps.of(analysis.topology, bool(every))
    if k >= steps.last:
        return Answered(t("quiz.done", lang, score=score_text(score, lang)), score, score_text(score, lang), k, typed)
    node = steps[k + 1][0]
    verdict = check(analysis, node, typed, lang)
    if verdict.given is None:
        return Answered(t("quiz.unreadable", lang), score, score_text(score, lang), k, typed)
    # A question is one node of one neck and configuration on one picture: answering it again
    # (after stepping back) does not count twice.
    key = (analysis.neck_name, repr(sorted(analysis.config.items())), node, tuple(verdict.answer),
           tuple(analysis.picture.rgb.shape))
    again = key in score.seen
    if not again:
        score = replace(score, right=score.right + verdict.right, answered=score.answered + 1,
                        seen=(*score.seen, key))
    feedback = t("quiz.right" if verdict.right else "quiz.wrong", lang, answer=shape_text(verdict.answer),
                 given=shape_text(verdict.given), node=node, rule=verdict.explanation.text)
    feedback += t("quiz.again", lang) if again else ""
    return Answered(feedback, score, score_text(score, lang), k + 1, "")


def reset(session: Session) -> Scored:
    return Scored("", Score(), score_text(Score(), session.lang))


def new_question(session: Session, analysis: Analysis, k: float, every: bool = False) -> Asked:
    """After a run (step 0) or a language switch (the learner's step): the question, no feedback."""
    return Asked(ask(session, analysis, k, every), "")


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
        tab.redraw_after_run(new_question, Shows(Asked, question=self.ask, feedback=self.feedback),
                             [tab.step, tab.every])
        tab.follow_step(event(ask), [tab.session, tab.state, tab.step, tab.every], [self.ask])
        scored = dict(feedback=self.feedback, score=self.score, score_text=self.score_view)
        answered = Shows(Answered, **scored, step=tab.step, typed=self.typed)
        inputs = [tab.session, tab.state, tab.step, self.typed, self.score, tab.every]
        self.check.click(event(answer, answered), inputs, answered.outputs,
                         api_name=f"{self.key.replace('-', '_')}_quiz")
        self.typed.submit(event(answer, answered), inputs, answered.outputs, api_visibility="private")
        reset_shows = Shows(Scored, **scored)
        self.reset.click(event(reset, reset_shows), [tab.session], reset_shows.outputs, api_visibility="private")


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
            reset_button = localised(gr.Button, {"value": "quiz.reset"}, size="sm", elem_id=f"{key}-quiz-reset",
                                     scale=0, min_width=120)
    return Quiz(key, asked, typed, check_button, feedback, score_view, reset_button, gr.State(Score()))
