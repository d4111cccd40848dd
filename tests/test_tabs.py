"""Neck tabs and lesson panels, their handlers called directly as Gradio calls them."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
from necklab.graph.steps import opening
from necklab.lab.analysis import analyse, keep_picture, shared_analysis
from necklab.lessons import aspp, fpn, lesson_for, nasfpn, panet, spp
from necklab.models.registry import NECKS
from necklab.ui.neck_tab import parse_value, refresh_neck, run_neck, show_step, steps_around, steps_of
from necklab.viz.step import narration
from necklab.widgets.common import sent_file
from necklab.widgets.session import Session


@pytest.fixture(scope="module")
def session(chelsea):
    return Session(picture=keep_picture(chelsea), device="cpu", tab="fpn")


def defaults(specs):
    return [str(c.default) if c.kind == "choice" else
            ", ".join(map(str, c.default)) if c.kind == "ints" else c.default
            for s in specs for c in s.controls]


@pytest.mark.parametrize("title", list(app.tab_groups()))
def test_every_tab_runs_its_neck_and_draws_step_zero(session, title):
    specs = app.tab_groups()[title]
    shown = run_neck(specs, session, specs[0].title, *defaults(specs))
    analysis, info, graph, slider, step_img = shown.analysis, shown.summary, shown.graph, shown.step, shown.figure
    words, table, lesson = shown.narration, shown.table, shown.lesson
    assert analysis.neck_name == specs[0].name
    assert f"{analysis.params:,}" in info and "FLOPs" in info
    graph, step_img = (np.asarray(Image.open(path)) for path in (graph, step_img))  # the PNGs Gradio serves
    assert graph.ndim == 3 and step_img.ndim == 3 and graph.std() > 5
    # The opening (inputs, laterals, extra levels made from them) is one step: one step per other node.
    assert slider.maximum == len(analysis.topology.nodes) - max(len(opening(analysis.topology)), 1)
    assert shown.every is False and len(shown.jumps) == len(lesson_for(specs[0].name).jumps)
    assert words.startswith("**Step 0 of") and lesson.startswith("**Lesson · step 0 of")
    assert [row[1] for row in table] == analysis.topology.order
    expected = analysis.params if specs[0].name != "rfp" else sum(analysis.node_params.values())
    assert sum(row[-1] for row in table) == expected


def test_config_controls_rebuild_the_neck_on_cached_features(session):
    specs = app.tab_groups()["ASPP"]
    analysis = run_neck(specs, session, "ASPP", "6, 12", 64).analysis
    assert analysis.topology.order == ["C5", "b1x1", "rate6", "rate12", "pool", "concat", "project"]
    assert analysis.trace["project"].shape[1] == 64
    with pytest.raises(gr.Error, match="whole numbers"):
        run_neck(specs, session, "ASPP", "6, twelve", 64)
    with pytest.raises(gr.Error, match="only once"):
        run_neck(specs, session, "ASPP", "6, 6", 64)
    with pytest.raises(gr.Error, match="from 1 to 64"):
        run_neck(specs, session, "ASPP", "6, 99", 64)


def test_control_defaults_are_the_class_defaults():
    import inspect

    for spec in NECKS.values():
        params = inspect.signature(spec.build).parameters
        for control in spec.controls:
            assert tuple(np.atleast_1d(params[control.arg].default)) == tuple(np.atleast_1d(control.default)), \
                (spec.name, control.arg)
            assert parse_value(control, defaults([type("S", (), {"controls": (control,)})])[0]) == control.default


def test_stepping_never_reruns_and_clamps(session, chelsea):
    analysis = analyse(chelsea, "pafpn")
    words = show_step(session, analysis, 16, every=True).narration  # a step per node: N4 is the 17th
    assert "`N4`" in words and "3×3 s2 conv" in words and "Step 16 of 21" in words
    assert show_step(session, analysis, 9).narration.startswith(narration(analysis, "N4", "en", steps_of(analysis)))
    assert "Step 9 of 14" in show_step(session, analysis, 9).narration  # the 8 opening maps are step 0
    assert "Step 14 of 14" in show_step(session, analysis, 99).narration  # clamped to the last step
    assert show_step(session, None, 3) is None  # nothing to show: every output stays


def test_a_step_is_drawn_once_for_every_session_and_the_next_one_ahead(session, chelsea, monkeypatch):
    from necklab.ui import neck_tab

    drawn = []  # the steps whose map was drawn
    draw = neck_tab.step_map
    monkeypatch.setattr(neck_tab, "step_map", lambda a, k, *rest: drawn.append(k) or draw(a, k, *rest))
    analysis = shared_analysis(chelsea, "fpn", {"out_channels": 96})
    first = show_step(session, analysis, 2)
    assert drawn == [2] and Path(first.graph).is_file() and Path(first.figure).is_file()
    again = show_step(replace(session, tab="panet"), shared_analysis(chelsea, "fpn", {"out_channels": 96}), 2)
    assert again == first and drawn == [2]  # another session, the same recipe: the same files
    assert show_step(replace(session, lang="zh"), analysis, 2).narration != first.narration and drawn == [2, 2]
    around = steps_around(session, analysis, 2)
    assert drawn == [2, 2, 3]  # the next step drawn ahead; the one before is not drawn for a jump
    third = show_step(session, analysis, 3)
    assert drawn == [2, 2, 3]  # Next finds it drawn, and sends what the page was sent ahead
    assert sorted(around) == ["2", "3"] and around["2"]["graph"] == sent_file(first.graph)
    assert around["3"] == {"graph": sent_file(third.graph), "figure": sent_file(third.figure),
                           "narration": third.narration}
    assert sorted(steps_around(session, analysis, 3)) == ["2", "3", "4"] and drawn[-1] == 4  # back: drawn
    last = steps_of(analysis).last
    assert sorted(steps_around(session, analysis, last)) == [str(last)]  # nothing after; before: not drawn
    Path(first.figure).unlink()  # Gradio's cache removed an old file: the step is drawn again
    assert Path(show_step(session, analysis, 2).figure).is_file() and drawn[-1] == 2


def test_a_step_s_graph_is_drawn_once_for_every_picture_of_its_size(session, chelsea, monkeypatch):
    """A step's graph shows the neck's structure and shapes, not the picture: students on their own
    pictures of one size share it, while each picture's map is its own."""
    from necklab.lab.imaging import decode
    from necklab.ui import neck_tab

    graphs = []
    draw = neck_tab.step_graph
    monkeypatch.setattr(neck_tab, "step_graph", lambda a, k, *rest: graphs.append(k) or draw(a, k, *rest))
    flipped = decode(_png_bytes(chelsea.rgb[:, ::-1]))
    config = {"out_channels": 72}
    one = show_step(session, shared_analysis(chelsea, "fpn", config), 3)
    two = show_step(session, shared_analysis(flipped, "fpn", config), 3)
    assert graphs == [3] and one.graph == two.graph  # one graph for both pictures
    assert one.figure != two.figure and one.narration != two.narration  # each picture's own map and values
    smaller = decode(_png_bytes(chelsea.rgb[::2, ::2]))
    three = show_step(session, shared_analysis(smaller, "fpn", config), 3)
    assert graphs == [3, 3] and three.graph != one.graph  # other shapes: another graph
    assert show_step(replace(session, lang="zh"), shared_analysis(chelsea, "fpn", config), 3).graph != one.graph


def _png_bytes(rgb: np.ndarray) -> bytes:
    from io import BytesIO

    out = BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(out, "png")
    return out.getvalue()


def test_a_shared_panel_is_drawn_once_for_every_session_on_that_analysis(session, chelsea):
    """A lesson panel that is a view of the analysis and language alone (`shared=True`) is drawn
    once however many sessions show it; again in another language, or when its file was removed."""
    from necklab.ui.neck_tab import build_neck_tab
    from necklab.widgets.session import SessionBox

    drawn = []

    def panel(shown_in: Session, analysis) -> np.ndarray:
        drawn.append(shown_in.lang)
        return np.full((8, 8, 3), 40 * len(drawn), np.uint8)

    with gr.Blocks():
        tab = build_neck_tab("FPN", [NECKS["fpn"]], gr.State(SessionBox()), lesson=False)
        box = gr.Image(format="png")
        tab.redraw_after_run(panel, box, shared=True)
    redraw, _, _ = tab.after_run[-1]
    analysis = shared_analysis(chelsea, "fpn", {"out_channels": 80})
    first = redraw(SessionBox(session), analysis, None)[box]
    again = redraw(SessionBox(replace(session, lang="en")), shared_analysis(chelsea, "fpn", {"out_channels": 80}), None)
    assert again[box] == first and drawn == ["en"] and Path(first).is_file()  # another session: the same file
    assert redraw(SessionBox(replace(session, lang="zh")), analysis, None)[box] != first and drawn == ["en", "zh"]
    Path(first).unlink()  # Gradio's cache removed it: drawn again
    assert Path(redraw(SessionBox(session), analysis, None)[box]).is_file() and drawn == ["en", "zh", "en"]


def test_refresh_runs_only_the_visible_stale_tab(session):
    specs = app.tab_groups()["FPN"]
    assert refresh_neck(specs, "fpn", replace(session, tab="backbone"), None, "FPN", *defaults(specs)) is None
    shown = refresh_neck(specs, "fpn", session, None, "FPN", *defaults(specs))
    assert shown.analysis.neck_name == "fpn"
    assert refresh_neck(specs, "fpn", session, shown.analysis, "FPN", *defaults(specs)) is None


def test_spp_lesson(session, chelsea):
    shown = spp.spp_views(session, analyse(chelsea, "yolo_spp"))
    assert all(img.ndim == 3 and img.std() > 5 for img in (shown.bins, shown.vectors, shown.sppf))
    rows = spp.window_rules(session, 5, "1, 2, 3, 4").table
    assert "PyTorch refuses" in rows[3][2] and "✓" in rows[0][2]
    with pytest.raises(gr.Error, match="from 1 to 16"):
        spp.window_rules(session, 5, "0, 2")


def test_fpn_baseline_panel(session, chelsea):
    outputs = fpn.fpn_views(session, analyse(chelsea, "fpn"))
    assert outputs.ndim == 3 and outputs.std() > 5


def test_panet_lesson(session, chelsea):
    shown = panet.panet_views(session, analyse(chelsea, "pafpn"))
    assert shown.paths.ndim == 3 and shown.compare.ndim == 3


def test_nasfpn_lesson(session, chelsea):
    analysis = analyse(chelsea, "nasfpn")
    listed = nasfpn.stage_list(session, analysis)
    stages, cells = listed.stage, listed.cells
    assert stages.choices == [(str(s), str(s)) for s in range(1, 8)]
    assert [row[1] for row in cells] == ["gp_64_4", "sum_44_4", "sum_43_3", "sum_34_4", "gp_43_5", "sum_55_5",
                                          "gp_54_7", "sum_77_7", "gp_75_6"]
    start = nasfpn.stage_start(analysis, "3")
    assert steps_of(analysis)[start] == ("s3.gp_64_4",)
    assert analysis.topology.order[nasfpn.stage_start(analysis, "3", every=True)] == "s3.gp_64_4"
    assert nasfpn.cell_view(session, analysis, start).cell.ndim == 3
    # the opening (step 0) is not a cell: the first cell is shown
    first = steps_of(analysis).index("s1.gp_64_4")
    assert first == 1
    assert np.array_equal(nasfpn.cell_view(session, analysis, 0).cell, nasfpn.cell_view(session, analysis, first).cell)
    assert np.array_equal(nasfpn.cell_view(session, analysis, 0, every=True).cell,
                          nasfpn.cell_view(session, analysis, first).cell)


@pytest.mark.slow
def test_aspp_click_shows_taps_and_effective_receptive_fields(session, chelsea):
    analysis = analyse(chelsea, "aspp")
    h, w = analysis.trace["C5"].shape[-2:]
    picture = analysis.picture
    # A click at the bottom-right corner of the picture lands in the last C5 cell.
    event = gr.SelectData(target=None, data={"index": [picture.size[0] - 1, picture.size[1] - 1], "value": None})
    shown = aspp.aspp_click(session, analysis, event)
    assert shown.cell == (h - 1, w - 1)
    assert shown.taps.ndim == 3 and shown.erf.ndim == 3 and shown.erf.std() > 5
    centre = aspp.aspp_views(session, analysis, None).cell
    assert centre == (h // 2, w // 2)
    with pytest.raises(gr.Error, match="Analyse a picture first"):
        aspp.aspp_click(session, None, event)
