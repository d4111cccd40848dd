"""What follows a step runs as one event: a session's events run one at a time, each a round trip."""
from __future__ import annotations

import gradio as gr

from necklab.ui.app import build_app
from necklab.widgets.events import together


def test_several_handlers_become_one_event_updating_each_ones_outputs():
    with gr.Blocks():
        a, b, c, d, e = (gr.Textbox() for _ in range(5))
        x, y = gr.Number(), gr.Number()
    calls = []

    def single(v):
        calls.append(("single", v))
        return f"single {v}"

    def pair(v, w):
        calls.append(("pair", v, w))
        return "first", "second"

    fn, inputs, outputs = together([(single, [x], [a]), (pair, [x, y], [b, c]),
                                    (lambda v: {d: "dict"}, [y], [d, e]), (lambda v: gr.skip(), [x], [e])])
    assert inputs == [x, y] and outputs == [a, b, c, d, e]  # each input once: the page looks each one up
    assert fn(1, 2) == {a: "single 1", b: "first", c: "second", d: "dict"}  # e: skipped, left as it is
    assert calls == [("single", 1), ("pair", 1, 2)]


def test_a_handler_reads_what_an_earlier_one_set_as_a_chain_of_events_would():
    with gr.Blocks():
        state, step, shown, seen = gr.State(None), gr.Slider(0, 9), gr.Textbox(), gr.Textbox()
    fn, inputs, outputs = together([
        (lambda ref, k: {state: "analysis B", step: gr.Slider(0, 5, value=0)}, [state, step], [state, step]),
        (lambda ref, k: f"{ref} at step {k}", [state, step], [shown]),
        (lambda ref: gr.skip(), [state], [state]),  # skipped: the next one still reads B
        (lambda ref: ref, [state], [seen])])
    assert inputs == [state, step]
    updates = fn("analysis A", 7)
    assert updates[shown] == "analysis B at step 0" and updates[seen] == "analysis B"
    fn, _, _ = together([(lambda ref: gr.skip(), [state], [state, seen])])
    assert fn("analysis A") == gr.skip()  # nothing to change: Gradio leaves every output as it is


def test_a_tab_refreshes_and_redraws_its_panels_in_one_event():
    demo = build_app()
    tab = next(b for b in demo.blocks.values() if isinstance(b, gr.Tab) and b.id == "panet")
    select = next(fn for fn in demo.fns.values() if (tab._id, "select") in fn.targets)
    after = [fn for fn in demo.fns.values() if fn.trigger_after == select._id]
    assert len(after) == 1 and len(after[0].fn.parts) > 3, "the refresh and every panel's redraw: one event"


def test_a_step_runs_two_events_not_one_per_panel():
    demo = build_app()
    for key in ("panet", "nas-fpn", "aspp"):
        step = next(c for c in demo.blocks.values() if getattr(c, "elem_id", None) == f"{key}-step")
        on_step = [fn for fn in demo.fns.values() if (step._id, "change") in fn.targets]
        assert len(on_step) == 2, key  # the step (graph, map, narration; an API endpoint) and all that follows it
        followers = next(fn for fn in on_step if fn.api_name != f"{key.replace('-', '_')}_step")
        ids = {getattr(c, "elem_id", None) for c in followers.outputs}
        assert {f"{key}-lesson", f"{key}-quiz-question"} <= ids, ids
