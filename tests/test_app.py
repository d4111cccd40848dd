"""App handlers called directly, as Gradio would call them (no server)."""
from __future__ import annotations

import gradio as gr
import pytest
from matplotlib.figure import Figure

import app
from tests.conftest import SAMPLES


def upload(path) -> dict:
    """What the Analyze event receives for an upload (it runs without preprocessing)."""
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def test_analyze_a_sample():
    top5, overview, channels, table, status, state = app.analyze(upload(SAMPLES / "chelsea.png"), "cpu", "C4")
    assert next(iter(top5)) == "Egyptian cat" and len(top5) == 5
    assert isinstance(overview, Figure) and len(overview.axes) >= 5
    assert isinstance(channels, Figure) and "C4" in channels._suptitle.get_text()
    assert [row[0] for row in table] == ["C1", "C2", "C3", "C4", "C5"]
    assert table[4][1:5] == [32, 320, 10, 15]  # C5 of 451×300: stride 32, 320 × ⌈300/32⌉ × ⌈451/32⌉
    assert "451×300" in status and "cpu" in status
    assert state["picture"].size == (451, 300)


def test_switching_level_redraws_from_the_cache():
    *_, state = app.analyze(upload(SAMPLES / "coffee.png"), "cpu", "C3")
    fig = app.show_level(state, "C1")
    assert "C1" in fig._suptitle.get_text() and "16 channels" in fig._suptitle.get_text()


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
        app.show_level(None, "C3")
