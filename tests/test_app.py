"""App handlers called directly, as Gradio would call them (no server)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

import app
from necklab.ui.backbone_tab import redraw, show_level
from necklab.widgets.common import ScratchFolder
from necklab.widgets.session import Session, session_picture
from tests.conftest import SAMPLES, pixels, upload

ROOT = Path(__file__).resolve().parent.parent


def test_analyze_a_sample():
    shown = app.analyze(Session(), upload(SAMPLES / "chelsea.png"), "cpu", "C4")
    top5, table, status = shown.top5, shown.table, shown.status
    assert next(iter(top5)) == "Egyptian cat" and len(top5) == 5
    overview, channels = pixels(shown.overview), pixels(shown.channels)  # the PNG files Gradio serves
    assert overview.ndim == 3 and overview.shape[1] > 1000
    assert channels.std() > 10  # a drawn figure, not a blank
    assert [row[0] for row in table] == ["C1", "C2", "C3", "C4", "C5"]
    assert table[4][1:5] == [32, 320, 10, 15]  # C5 of 451×300: stride 32, 320 × ⌈300/32⌉ × ⌈451/32⌉
    assert "451×300" in status and "cpu" in status
    assert session_picture(shown.session)[0].size == (451, 300)


def test_the_top5_follows_the_language():
    shown = app.analyze(Session(), upload(SAMPLES / "chelsea.png"), "cpu", "C4", "zh")
    assert next(iter(shown.top5)) == "埃及猫" and len(shown.top5) == 5
    switched = redraw(replace(shown.session, lang="en"), "C4")  # the page's switch back to English
    assert next(iter(switched.top5)) == "Egyptian cat"


@pytest.mark.slow
def test_switching_level_redraws_from_the_cache():
    shown = app.analyze(Session(), upload(SAMPLES / "coffee.png"), "cpu", "C3")
    c1 = pixels(show_level(shown.session, "C1"))
    assert c1.shape[2] == 3 and not np.array_equal(c1, pixels(shown.channels))
    assert show_level(shown.session, "C1") == show_level(shown.session, "C1")  # drawn once: the same file


@pytest.mark.parametrize("content, words", [(b"", "empty"), (b"%PDF-1.4 not a picture", "not a picture")])
def test_bad_uploads_give_a_clear_message(tmp_path, content, words):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(gr.Error, match=words):
        app.analyze(Session(), upload(bad), "cpu", "C3")


def test_missing_picture_and_unknown_device():
    with pytest.raises(gr.Error, match="Choose a picture"):
        app.analyze(Session(), None, "cpu", "C3")
    with pytest.raises(gr.Error, match="not available"):
        app.analyze(Session(), upload(SAMPLES / "chelsea.png"), "cuda:7", "C3")
    with pytest.raises(gr.Error, match="Analyse a picture first"):
        show_level(Session(), "C3")


def test_api_calls_with_a_level_that_does_not_exist():
    with pytest.raises(gr.Error, match="does not exist"):
        app.analyze(Session(), upload(SAMPLES / "chelsea.png"), "cpu", "C9")


def test_the_address_comes_from_flags_then_gradios_variables_then_this_machine(capsys):
    assert vars(app.server_address([], {})) == {"host": "127.0.0.1", "port": 7860}
    env = {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "8080"}
    assert vars(app.server_address([], env)) == {"host": "0.0.0.0", "port": 8080}
    assert vars(app.server_address(["--host", "127.0.0.1", "--port", "9000"], env)) == {"host": "127.0.0.1",
                                                                                         "port": 9000}
    assert vars(app.server_address(["--port", "9001"], env)) == {"host": "0.0.0.0", "port": 9001}
    with pytest.raises(SystemExit):
        app.server_address([], {"GRADIO_SERVER_PORT": "eighty"})
    assert "invalid int value: 'eighty'" in capsys.readouterr().err


def test_a_scratch_folder_is_made_on_first_use_and_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    folder = ScratchFolder("necklab-test-")
    assert not list(tmp_path.iterdir())
    (folder.path / "design.json").write_text("{}")
    assert folder.path.parent == tmp_path and folder.path.name.startswith("necklab-test-")
    folder.remove()
    assert not list(tmp_path.iterdir())


CHILD = """
import tempfile
from dataclasses import replace
from pathlib import Path
from necklab.ui import compare_tab, playground_tab
from necklab.ui.app import build_app
build_app()
made = [p.name for p in Path(tempfile.gettempdir()).glob("necklab-*")]
assert not made, f"building the app made {made}"
print(playground_tab.save(playground_tab.PRESETS["NAS-FPN"].rows(), "mine"), compare_tab.CSV_DIR.path)
"""


@pytest.mark.slow
def test_the_app_leaves_no_temporary_folder_behind(tmp_path):
    """Building the app makes none of its temporary folders; those made by using it go at exit."""
    env = {**os.environ, "TMPDIR": str(tmp_path), "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    saved, csv_dir = done.stdout.split()
    assert Path(saved).is_relative_to(tmp_path) and Path(csv_dir).is_relative_to(tmp_path)
    assert not list(tmp_path.glob("necklab-*")), list(tmp_path.glob("necklab-*"))  # removed at exit
