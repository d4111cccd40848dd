"""The Compare tab: the zoo on one small picture (model side, table, CSV, figures, handler)."""
from __future__ import annotations

import csv
import dataclasses
import json
import math

import gradio as gr
import numpy as np
import pytest

from necklab.lab import compare as compare_module
from necklab.lab.analysis import keep_picture, neck_on
from necklab.lab.compare import compare_zoo, median_latency, tab_config
from necklab.models.registry import NECKS, neck_parameters
from necklab.ui import compare_tab
from necklab.viz.compare import (
    COMPARE_HEADERS,
    COMPARE_TYPES,
    compare_rows,
    erf_area_figure,
    notes_text,
    params_latency_figure,
    to_csv,
)
from necklab.widgets.session import Session, SessionBox
from tests.test_zoo import resized

PICTURE = resized("chelsea.png", 160, 128)


@pytest.fixture(scope="module")
def run():
    calls: list[tuple[int, str]] = []
    rows = compare_zoo(PICTURE, repeats=1, progress=lambda i, title: calls.append((i, title)))
    return rows, calls


@pytest.fixture(scope="module")
def rows(run):
    return {r.name: r for r in run[0]}


def test_every_neck_has_a_row_without_error_and_progress_moves_neck_by_neck(run):
    rows, calls = run
    assert [r.name for r in rows] == list(NECKS)
    assert [r.error for r in rows] == [""] * len(NECKS)
    assert calls == [(i, spec.title) for i, spec in enumerate(NECKS.values())]


def test_params_flops_and_latency(rows):
    for name, row in rows.items():
        assert row.params == neck_parameters(neck_on(name, tab_config(NECKS[name]), "cpu")), name
        assert row.latency_ms > 0, name
        assert row.flops > 0 if name != "spp" else row.flops == 0, name  # flop_counter counts no pooling


def test_single_level_necks_read_c5_and_rfp_reruns_the_backbone(rows):
    for name in ("spp", "yolo_spp", "sppf", "aspp"):
        assert rows[name].inputs == ("C5",)
    assert rows["rfp"].inputs[0] == "image" and "latency and FLOPs include it" in notes_text(rows["rfp"])
    assert "RFP.rfp_modules" in notes_text(rows["rfp"]) and "延迟和 FLOPs 包含这部分" in notes_text(rows["rfp"], "zh")


def test_receptive_fields_of_the_finest_output(rows):
    fpn, nasfpn, spp = rows["fpn"], rows["nasfpn"], rows["spp"]
    assert (fpn.finest, fpn.stride) == ("P2", 4) and (nasfpn.finest, nasfpn.stride) == ("s7.sum_43_3", 8)
    assert math.isfinite(fpn.rf_px) and fpn.rf_px == fpn.local_rf_px and not fpn.whole_picture
    assert nasfpn.whole_picture and fpn.rf_px < nasfpn.rf_px  # NAS-FPN's global-pooling cells see it all
    assert nasfpn.local_rf_px > fpn.rf_px  # seven stages of 3×3 convs reach further than FPN's one
    assert spp.finest == "vector" and spp.stride is None and spp.whole_picture  # the 1×1 bin pools everything
    assert spp.erf_px is None and spp.erf_percent is None and "pooled vector" in notes_text(spp)


def test_erf_areas_are_shares_of_the_picture(rows):
    w, h = PICTURE.size
    for name, row in rows.items():
        if name == "spp":
            continue
        assert 0 < row.erf_percent <= 100, name
        assert row.erf_px == pytest.approx(row.erf_percent / 100 * w * h), name


def test_one_failing_neck_does_not_stop_the_comparison(monkeypatch):
    broken = dataclasses.replace(NECKS["sppf"], name="broken", title="Broken")
    monkeypatch.setattr(compare_module, "NECKS", {"broken": broken, "sppf": NECKS["sppf"]})
    failed, fine = compare_zoo(PICTURE, repeats=1)
    assert failed.title == "Broken" and "unknown neck 'broken'" in failed.error and failed.params is None
    assert not fine.error and fine.params > 0
    assert compare_rows([failed])[0][-1].startswith("failed: ")


def test_median_latency_times_repeats_after_one_warm_up():
    calls = []
    assert median_latency(lambda: calls.append(1), repeats=3) >= 0
    assert len(calls) == 4
    with pytest.raises(ValueError):
        median_latency(lambda: None, repeats=0)


def test_table_keeps_numbers_and_csv_round_trips(run, tmp_path):
    table = compare_rows(run[0])
    assert all(len(line) == len(COMPARE_HEADERS) == len(COMPARE_TYPES) for line in table)
    for line in table:
        for value, kind in zip(line, COMPARE_TYPES):
            assert value is None or isinstance(value, (int, float) if kind == "number" else str)
    with to_csv(run[0], tmp_path / "zoo.csv").open(newline="", encoding="utf-8") as f:
        header, *lines = list(csv.reader(f))
    assert header == COMPARE_HEADERS
    for line, read in zip(table, lines, strict=True):
        for value, text in zip(line, read, strict=True):
            if value is None:
                assert text == ""
            elif isinstance(value, str):
                assert text == value
            else:
                assert float(text) == value


def test_figures_draw_every_neck(run):
    for figure in (params_latency_figure, erf_area_figure):
        fig = figure(run[0], "160×128 px picture on cpu")
        texts = [t.get_text() for ax in fig.axes for t in ax.texts + ax.get_yticklabels()]
        assert all(any(r.title in t for t in texts) for r in run[0]), figure.__name__


def test_tab_handler_returns_rows_figures_and_a_csv(run, monkeypatch):
    def zoo(picture, device, repeats, progress, erf, weights):  # the module's comparison, without measuring it again
        assert picture is PICTURE and device == "cpu" and repeats == compare_tab.REPEATS and erf is False
        assert weights == "trained"  # the session's weights: trained unless the learner chose fresh
        for i, spec in enumerate(NECKS.values()):
            progress(i, spec.title)
        return [dataclasses.replace(r, erf_px=None, erf_percent=None) for r in run[0]]

    monkeypatch.setattr(compare_tab, "compare_zoo", zoo)
    updates = []
    session = Session(picture=keep_picture(PICTURE), device="cpu")
    compared = compare_tab.compare(session, progress=lambda p, desc: updates.append((p, desc)))
    table, params, erf, path, rows = compared.table, compared.params, compared.erf, compared.csv, compared.rows
    n = len(NECKS)
    assert updates == [((i, n), spec.title) for i, spec in enumerate(NECKS.values())]
    assert [line[0] for line in table] == [spec.title for spec in NECKS.values()]
    erf_column = COMPARE_HEADERS.index("ERF 95 % area (px² of the analysed picture)")
    assert erf is None and all(line[erf_column] is None for line in table)  # the ERF column comes next
    assert params.dtype == np.uint8 and params.ndim == 3 and params.std() > 5
    assert path.endswith(".csv") and open(path, encoding="utf-8").readline().startswith("neck,reads,")
    added = compare_tab.compare_erfs(session, rows, progress=lambda *a, **k: None)
    table, erf, path = added.table, added.erf, added.csv
    assert [line[erf_column] for line in table] == [r.erf_px for r in run[0]]  # as compare_zoo computes them
    assert erf.dtype == np.uint8 and erf.ndim == 3 and erf.std() > 5
    assert all(r.erf_px is None for r in rows)  # the first stage's rows are left as they were
    with gr.Blocks() as demo:
        run_button, (dataframe, *_) = compare_tab.build_compare_tab(gr.State(SessionBox()))
    sent = json.dumps(dataframe.postprocess(table).model_dump(), allow_nan=False)  # what the browser gets
    assert "whole picture" in sent
    assert {"compare", "compare_erfs"} <= {fn.api_name for fn in demo.fns.values()}
    assert run_button.elem_id == "compare-run" and dataframe.elem_id == "compare-table"


def test_no_picture_gives_a_clear_error():
    with pytest.raises(gr.Error, match="Analyse a picture first"):
        compare_tab.compare(Session())
