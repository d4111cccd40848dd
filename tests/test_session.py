"""The browser session and how handlers meet Gradio: one typed Session in one gr.State, changed field
by field (so events running side by side do not undo each other), views shown by name, pictures kept
process-wide by content key."""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import gradio as gr
import numpy as np
import pytest

from necklab.lab import analysis
from necklab.lab.cache import LRU
from necklab.lab.imaging import Picture
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session, SessionBox, session_picture


def test_an_event_keeps_what_another_changed_while_it_ran():
    """An Analyze starts on the Backbone tab; the learner picks the FPN tab and 中文 before it ends.
    Gradio stores what a handler returns when it ends: the tab and language must survive it."""
    box = SessionBox()

    def analyze(session: Session) -> Session:
        event(lambda now: replace(now, tab="fpn"))(box)  # events of the same browser, run meanwhile
        event(lambda now: replace(now, lang="zh"))(box)
        return replace(session, picture="key", device="cpu")

    assert event(analyze)(box) is None  # a session alone changes no component
    assert box.now == Session(picture="key", device="cpu", lang="zh", tab="fpn")


def test_every_browser_gets_its_own_session():
    first = SessionBox()
    second = copy.deepcopy(first)  # what gr.State does with its first value for each browser
    first.merge(first.now, replace(first.now, tab="spp"))
    assert second.now.tab == "backbone" and first.now.tab == "spp"


@dataclass(frozen=True)
class Shown:
    title: str
    weights: list
    session: Session | None = None


def test_views_are_shown_by_name_and_their_session_is_merged():
    with gr.Blocks():
        title, w0, w1 = gr.Markdown(), gr.Slider(), gr.Slider()
        shows = Shows(Shown, weights=[w0, w1], title=title)
        with pytest.raises(TypeError, match="title"):
            Shows(Shown, weights=[w0, w1])
    assert shows.outputs == [w0, w1, title]  # in the order given: an endpoint's order of outputs

    def handler(session: Session, text: str) -> Shown:
        return Shown(title=text, weights=[0.5, 1.5], session=replace(session, tab="bifpn"))

    box = SessionBox()
    assert event(handler, shows)(box, "BiFPN") == {title: "BiFPN", w0: 0.5, w1: 1.5}
    assert box.now.tab == "bifpn"
    assert shows.updates(None) == gr.skip()  # nothing to show: every output stays


def test_a_dropped_picture_asks_for_a_new_analysis(monkeypatch):
    monkeypatch.setattr(analysis, "_pictures", LRU(1))
    first, second = (Picture(np.full((32, 32, 3), v, np.uint8), (32, 32), "PNG", 1) for v in (0, 255))
    key = analysis.keep_picture(first)
    assert analysis.keep_picture(Picture(first.rgb.copy(), (32, 32), "PNG", 1)) == key  # same content, same key
    assert session_picture(Session(picture=key, device="cpu")) == (first, "cpu")
    analysis.keep_picture(second)  # the store holds one picture: the first is dropped
    with pytest.raises(gr.Error, match="请先分析一张图片"):
        session_picture(Session(picture=key, lang="zh"))
