"""Predict-the-shape quiz under a neck tab's step-through: at step k the learner types the C×H×W of
node k+1 before it is revealed; the answer is checked against the trace and, when wrong, the rule
that gives the shape is explained with the node's own numbers (necks.shape_rules). One score per
neck tab and browser session, with a reset. The handlers are module-level, called by the tests."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from necks.analysis import Analysis
from necks.shape_rules import check, question, shape_text

from .common import NO_PICTURE

if TYPE_CHECKING:  # neck_tab builds the quiz: a runtime import would be circular
    from .neck_tab import NeckTab

Score = dict[str, Any]  # {"right": int, "answered": int, "seen": list of answered questions}

TEXT = {
    "title": "Predict the shape",
    "intro": "Before you step on: what C×H×W will the next node have? Type it as 64x38x57 (or one number "
             "for a vector), then **Check** — the next step is revealed either way.",
    "answer": "C×H×W of the next node",
    "placeholder": "e.g. 64x38x57",
    "check": "Check",
    "reset": "Reset score",
    "right": "**Right: {answer}.** {rule}",
    "wrong": "**Not quite: you typed {given}, `{node}` is {answer}.** {rule}",
    "unreadable": "Type whole numbers separated by x, × or commas, e.g. 64x38x57 (one number for a vector).",
    "again": " (answered before: not scored again)",
    "score": "Score in this lesson: **{right} of {answered}** right",
    "no_score": "Score in this lesson: no answers yet",
    "done": "That was the last node of this neck. {score}.",
}


def new_score() -> Score:
    return {"right": 0, "answered": 0, "seen": []}


def score_text(score: Score | None) -> str:
    score = score or new_score()
    return TEXT["score"].format(**score) if score["answered"] else TEXT["no_score"]


def _last(analysis: Analysis) -> int:
    return len(analysis.topology.nodes) - 1


def ask(analysis: Analysis | None, k: float) -> str:
    """The question about the node after step k (or the end of the lesson)."""
    if analysis is None:
        return NO_PICTURE
    k = int(k)
    if k >= _last(analysis):
        return TEXT["done"].format(score="")
    return question(analysis, analysis.topology.order[k + 1])


def answer(analysis: Analysis | None, k: float, typed: str, score: Score | None) -> tuple:
    """Check a typed shape for the node after step k: feedback, score, score text, the step to
    show (the node, now revealed) and the cleared answer box."""
    if analysis is None:
        raise gr.Error(NO_PICTURE)
    score = dict(score or new_score())
    k = int(k)
    if k >= _last(analysis):
        return TEXT["done"].format(score=score_text(score)), score, score_text(score), k, typed
    node = analysis.topology.order[k + 1]
    verdict = check(analysis, node, typed)
    if verdict.given is None:
        return TEXT["unreadable"], score, score_text(score), k, typed
    # A question is one node of one neck and configuration on one picture: answering it again
    # (after stepping back) does not count twice.
    key = [analysis.neck_name, repr(sorted(analysis.config.items())), node, list(verdict.answer),
           list(analysis.picture.rgb.shape)]
    again = key in score["seen"]
    if not again:
        score = {"right": score["right"] + verdict.right, "answered": score["answered"] + 1,
                 "seen": [*score["seen"], key]}
    template = TEXT["right"] if verdict.right else TEXT["wrong"]
    feedback = template.format(answer=shape_text(verdict.answer), given=shape_text(verdict.given), node=node,
                               rule=verdict.explanation.text) + (TEXT["again"] if again else "")
    return feedback, score, score_text(score), k + 1, ""


def reset() -> tuple[Score, str, str]:
    return new_score(), score_text(None), ""


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

    def wire(self, tab: NeckTab) -> None:
        tab.redraw_after_run(lambda analysis: (ask(analysis, 0), ""), [self.ask, self.feedback])
        tab.step.change(ask, [tab.state, tab.step], [self.ask], api_visibility="private")
        outputs = [self.feedback, self.score, self.score_view, tab.step, self.typed]
        inputs = [tab.state, tab.step, self.typed, self.score]
        self.check.click(answer, inputs, outputs, api_name=f"{self.key.replace('-', '_')}_quiz")
        self.typed.submit(answer, inputs, outputs, api_visibility="private")
        self.reset.click(reset, None, [self.score, self.score_view, self.feedback], api_visibility="private")


def quiz_box(key: str) -> Quiz:
    """Build the quiz's components where the tab places them."""
    with gr.Accordion(TEXT["title"], open=True, elem_id=f"{key}-quiz"):
        gr.Markdown(TEXT["intro"])
        asked = gr.Markdown(NO_PICTURE, elem_id=f"{key}-quiz-question")
        with gr.Row():
            typed = gr.Textbox(label=TEXT["answer"], placeholder=TEXT["placeholder"], elem_id=f"{key}-quiz-answer",
                               scale=3)
            check_button = gr.Button(TEXT["check"], variant="primary", elem_id=f"{key}-quiz-check", scale=1,
                                     min_width=90)
        feedback = gr.Markdown(elem_id=f"{key}-quiz-feedback")
        with gr.Row():
            score_view = gr.Markdown(score_text(None), elem_id=f"{key}-quiz-score")
            reset_button = gr.Button(TEXT["reset"], size="sm", elem_id=f"{key}-quiz-reset", scale=0, min_width=120)
    return Quiz(key, asked, typed, check_button, feedback, score_view, reset_button, gr.State(new_score()))
