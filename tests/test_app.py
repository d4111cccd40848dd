"""App handlers called directly, as Gradio would call them (no server)."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

import app
from necklab.ui.backbone_tab import show_level
from tests.conftest import SAMPLES, upload


def test_analyze_a_sample():
    top5, overview, channels, table, status, state = app.analyze(upload(SAMPLES / "chelsea.png"), "cpu", "C4")
    assert next(iter(top5)) == "Egyptian cat" and len(top5) == 5
    assert isinstance(overview, np.ndarray) and overview.ndim == 3 and overview.shape[1] > 1000
    assert isinstance(channels, np.ndarray) and channels.std() > 10  # a drawn figure, not a blank
    assert [row[0] for row in table] == ["C1", "C2", "C3", "C4", "C5"]
    assert table[4][1:5] == [32, 320, 10, 15]  # C5 of 451×300: stride 32, 320 × ⌈300/32⌉ × ⌈451/32⌉
    assert "451×300" in status and "cpu" in status
    assert state["picture"].size == (451, 300)


def test_switching_level_redraws_from_the_cache():
    _, _, c3, *_, state = app.analyze(upload(SAMPLES / "coffee.png"), "cpu", "C3")
    c1 = show_level(state, "C1")
    assert c1.shape[2] == 3 and not np.array_equal(c1, c3)


@pytest.mark.parametrize("content, words", [(b"", "empty"), (b"%PDF-1.4 not a picture", "not a picture")])
def test_bad_uploads_give_a_clear_message(tmp_path, content, words):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(gr.Error, match=words):
        app.analyze(upload(bad), "cpu", "C3")


def test_missing_picture_and_unknown_device():
    with pytest.raises(gr.Error, match="Choose a picture"):
        app.analyze(None, "cpu", "C3")
    with pytest.raises(gr.Error, match="not available"):
        app.analyze(upload(SAMPLES / "chelsea.png"), "cuda:7", "C3")
    with pytest.raises(gr.Error, match="Analyse a picture first"):
        show_level(None, "C3")


def test_api_calls_with_a_level_that_does_not_exist():
    with pytest.raises(gr.Error, match="does not exist"):
        app.analyze(upload(SAMPLES / "chelsea.png"), "cpu", "C9")
