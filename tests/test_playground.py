"""The playground's model side and its tab handlers on a real (small) picture: a design beside FPN,
PANet and NAS-FPN, the proxy ranking, a bounded random search, and save/load through files."""
from __future__ import annotations

import json
from dataclasses import replace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from necklab.lab.analysis import keep_picture
from necklab.lab.compare import NeckRow
from necklab.lab.imaging import Picture
from necklab.lab.playground import AP, PROXIES, Candidate, compare_design, random_search, rank
from necklab.models.cell_design import FPN_CELLS, NAS_FPN, PANET_CELLS
from necklab.ui import playground_tab as tab
from necklab.widgets.session import Session
from tests.conftest import SAMPLES, upload

EN, ZH = Session(), Session(lang="zh")


def no_progress(*_, **__) -> None:
    return None


@pytest.fixture(scope="module")
def small() -> Picture:
    im = Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((160, 112))
    return Picture(np.asarray(im).copy(), (160, 112), "PNG", 1)


def candidate(params: int, flops: int, latency: float, erf: float) -> Candidate:
    return Candidate(NAS_FPN, "", NeckRow("x", "x", params=params, flops=flops, latency_ms=latency, erf_percent=erf))


def test_rank_is_the_mean_rank_over_the_chosen_proxies():
    a, b, c = candidate(10, 5, 3.0, 40.0), candidate(20, 1, 1.0, 90.0), candidate(10, 9, 2.0, 10.0)
    labels = [label for label in PROXIES if label != AP]  # measured on the picture
    assert rank([a, b, c], [labels[0]])[:2] == [a, c]  # fewer parameters; a and c tie for rank 1
    assert a.score == c.score == 1 and b.score == 3
    assert rank([a, b, c], labels) == [b, a, c]  # b: ranks 3, 1, 1, 1 → 1.5
    assert b.score == pytest.approx(1.5)
    with pytest.raises(ValueError, match="at least one proxy"):
        rank([a], [])


def test_design_beside_the_hand_designed_necks(small):
    rows = compare_design(small, PANET_CELLS, 1, repeats=1)
    assert [r.title for r in rows] == ["FPN", "PANet (PAFPN)", "NAS-FPN", "your design “PANet (in cells)”"]
    assert not any(r.error for r in rows)
    ours = rows[-1]
    # laterals + extras + seven cells with ReLU → 3×3 conv → BN, one stage
    assert ours.params == (40 + 112 + 320) * 64 + 3 * 128 + 2 * (64 * 64 + 128) + 7 * 37_056
    assert ours.finest == "s1.sum_43_3" and ours.stride == 8 and 0 < ours.erf_percent <= 100
    assert rows[2].params > ours.params  # NAS-FPN's seven stages of nine cells


def test_random_search_is_bounded_and_ranked(small):
    found = random_search(small, FPN_CELLS, 1, list(PROXIES)[:2], count=2, seconds=120, seed=1)
    assert len(found) == 3
    assert sum(c.change == "the start design (no change)" for c in found) == 1
    assert len({c.design.cells for c in found}) == 3
    assert [c.score for c in found] == sorted(c.score for c in found)
    for c in found:
        c.design.validate()
        assert c.row.params and c.row.flops
    # a budget already spent still measures the start design, and only it
    assert len(random_search(small, FPN_CELLS, 1, list(PROXIES)[:1], count=5, seconds=0, seed=1)) == 1
    zh = random_search(small, FPN_CELLS, 1, list(PROXIES)[:1], count=5, seconds=0, seed=1, lang="zh")
    assert [c.change for c in zh] == ["起始设计（未改动）"]


def test_handlers_explain_bad_tables_and_round_trip_files(tmp_path):
    rows = NAS_FPN.rows()
    rows[0][1] = "cell 4"
    assert tab.check(EN, rows, "x").startswith("**Not valid:** Cell 1, input A: reading cell 4 makes a cycle")
    assert tab.check(EN, NAS_FPN.rows(), "x").startswith("**Valid**: “x” is a stage of 9 cells")
    with pytest.raises(gr.Error, match="does not exist yet"):
        tab.mutate_table(EN, [["sum", "cell 2", "P3", "P3"], ["sum", "P4", "P4", "P4"]], "x")
    mutated = tab.mutate_table(EN, FPN_CELLS.rows(), "x")
    assert mutated.table != FPN_CELLS.rows() and "Mutated — cell" in mutated.status

    path = tab.save(PANET_CELLS.rows(), "PANet / mine")
    assert path.endswith("PANet___mine.json") and json.loads(open(path, encoding="utf-8").read())["name"]
    loaded = tab.load(EN, upload(path)["path"])
    assert loaded.table == PANET_CELLS.rows() and loaded.name == "PANet / mine" and "Loaded" in loaded.status
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "necklab-cell-design", "cells": [{"op": "sum", "a": "P3", "b": "P9", "level": "P3"}]}')
    with pytest.raises(gr.Error, match="Cannot load this design: Cell 1, input B: P9 is outside P3…P7"):
        tab.load(EN, upload(bad)["path"])
    with pytest.raises(gr.Error, match="单元 1 的输入 B：P9 超出了 P3…P7"):
        tab.load(ZH, upload(bad))
    assert "单元 1 的输入 A：读取单元 4 会形成环" in tab.check(ZH, rows, "x")
    with pytest.raises(gr.Error, match="单元 2 还不存在"):
        tab.mutate_table(ZH, [["sum", "cell 2", "P3", "P3"], ["sum", "P4", "P4", "P4"]], "x")
    assert "单元 " in tab.mutate_table(ZH, FPN_CELLS.rows(), "x").status


@pytest.mark.parametrize("forged", ["/etc/passwd", {"path": "/etc/passwd"}, {"path": "{saved}"}])
def test_load_reads_only_uploaded_files(forged):
    """Load, like Analyze, opens only files in Gradio's upload cache: an API client can send any
    path, including a design this server saved (outside the cache)."""
    saved = tab.save(PANET_CELLS.rows(), "mine")
    if isinstance(forged, dict):
        forged = {"path": forged["path"].replace("{saved}", saved)}
    with pytest.raises(gr.Error, match="Only files uploaded here can be loaded"):
        tab.load(EN, forged)
    with pytest.raises(gr.Error, match="只能加载在这里上传的文件"):
        tab.load(ZH, forged)


HOSTILE_NAME = "<img src=x onerror=alert(1)> [a](javascript:x) ![p](http://203.0.113.7/p.png)"
HOSTILE_CELL = "<form><input type=password></form>[a](javascript:x)"


def no_markup(text: str) -> None:
    """Nothing of the learner's text that Markdown or HTML would turn into an element or a link."""
    for raw in ("<img", "<form", "<input", "[a]", "![p]", "](", "onerror=alert(1)>"):
        assert raw not in text, (raw, text)


def test_a_designs_name_and_cells_are_shown_as_text_not_markup(tmp_path):
    """A design's name and cell texts come back escaped in every handler output that shows them:
    statuses (Markdown), error messages (rendered as HTML) and the run's summary title."""
    for lang in ("en", "zh"):
        session = Session(lang=lang)
        status = tab.check(session, NAS_FPN.rows(), HOSTILE_NAME)
        no_markup(status)
        assert "&lt;img src=x onerror=alert(1)&gt;" in status and "&#91;a&#93;(javascript:x)" in status
        no_markup(tab.mutate_table(session, NAS_FPN.rows(), HOSTILE_NAME).status)
        no_markup(tab.relanguage(session, NAS_FPN.rows(), HOSTILE_NAME).status)
        no_markup(tab.spec_in(replace(NAS_FPN, name=HOSTILE_NAME), lang).title)
        bad = NAS_FPN.rows()
        bad[0][1] = HOSTILE_CELL
        bad[1][0] = HOSTILE_CELL
        no_markup(tab.check(session, bad, "x"))
        assert "&lt;form&gt;" in tab.check(session, bad, "x")
        with pytest.raises(gr.Error) as raised:
            tab.mutate_table(session, bad, "x")
        no_markup(raised.value.message)
        design = tmp_path / f"hostile-{lang}.json"
        design.write_text(replace(NAS_FPN, name=HOSTILE_NAME).to_json(), encoding="utf-8")
        loaded = tab.load(session, upload(design))
        no_markup(loaded.status)
        assert loaded.name == HOSTILE_NAME  # the name box is a text box: the name itself is kept
        data = json.loads(design.read_text(encoding="utf-8"))
        data["cells"][0]["a"] = HOSTILE_CELL
        design.write_text(json.dumps(data), encoding="utf-8")
        with pytest.raises(gr.Error) as raised:
            tab.load(session, upload(design))
        no_markup(raised.value.message)


def test_run_handler_fills_the_step_view(small):
    session = Session(picture=keep_picture(small), device="cpu")
    shown = tab.run(session, FPN_CELLS.rows(), "FPN (in cells)", 2, progress=no_progress)
    analysis, summary, graph, step_img, table, status = (shown.analysis, shown.summary, shown.graph, shown.figure,
                                                         shown.table, shown.status)
    assert "your design “FPN (in cells)”" in summary and "Parameters" in summary
    assert analysis.outputs == ["s2.sum_43_3", "s2.sum_54_4", "s2.sum_55_5", "s2.sum_55_6", "s2.sum_66_7"]
    graph, step_img = (np.asarray(Image.open(path)) for path in (graph, step_img))  # the PNGs Gradio serves
    assert graph.ndim == 3 and step_img.ndim == 3 and len(table) == len(analysis.topology.nodes)
    assert status.startswith("**Valid**")
    with pytest.raises(gr.Error, match="Analyse a picture first"):
        tab.run(EN, FPN_CELLS.rows(), "x", 1, progress=no_progress)


def test_the_design_is_named_in_the_session_language():
    zh = tab.spec_in(FPN_CELLS, "zh")
    assert zh.title == f"你的设计“{FPN_CELLS.name}”" and zh.paper == "仿照 NAS-FPN 的合并单元设计"
    assert tab.spec_in(FPN_CELLS, "en").reference_source == "NAS-FPN's merging cells (mmdetection + mmcv)"


def test_ranking_proxies_are_offered_in_the_session_language():
    from necklab.lab.playground import PROXIES
    from necklab.ui.playground_tab import proxy_choices

    for lang in ("en", "zh"):
        shown = proxy_choices(lang)
        assert [value for _, value in shown] == list(PROXIES)  # the search still reads PROXIES' keys
    assert [words for words, _ in proxy_choices("en")] == list(PROXIES)
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in words) for words, _ in proxy_choices("zh"))
