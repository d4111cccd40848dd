"""Train this design: a bounded short run scored by held-out AP, its refusal without the data, the
playground's handlers that drive it slice by slice, and the search's AP proxy."""
from __future__ import annotations

import gradio as gr
import pytest

from necklab.lab.compare import NeckRow
from necklab.lab.playground import AP, PROXIES, Candidate, rank
from necklab.models.cell_design import FPN_CELLS, NAS_FPN, PANET_CELLS
from necklab.train import cutouts, quick
from necklab.train.cutouts import PACKAGE, DataSourceMissing
from necklab.train.quick import MAX_SECONDS, QuickJob, quick_data, quick_train
from necklab.ui import playground_tab as tab
from necklab.widgets.session import Session

KEYS = {"AP", "AP50", "AP75", "AP_S", "AP_M", "AP_L"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from tests.test_scenes import drawn_library  # drawn cut-outs: no data package needed
    return quick_data(folder=tmp_path_factory.mktemp("quick"), cutouts=drawn_library(), train=8, val=4)


def test_a_short_run_stops_by_steps_and_reports_held_out_ap(data):
    result = quick_train(FPN_CELLS, 1, 60, data=data, steps=3)
    assert result.stopped == "steps" and result.steps == 3 and len(result.losses) == 3
    assert set(result.ap) == KEYS


def test_a_short_run_stops_when_cancelled(data):
    calls = []

    def cancelled() -> bool:
        calls.append(1)
        return len(calls) > 2

    result = quick_train(FPN_CELLS, 1, 60, data=data, cancelled=cancelled)
    assert result.stopped == "cancelled" and 1 <= result.steps <= 2  # asked twice between steps and slices


def test_a_short_run_stops_when_its_time_is_up(data, monkeypatch):
    monkeypatch.setattr(quick, "STEP_CAP", 10_000)  # no step limit to reach first
    result = quick_train(FPN_CELLS, 1, 1, data=data)
    assert result.stopped == "time" and result.steps >= 1 and set(result.ap) == KEYS


def test_the_budget_is_capped_and_the_job_table_bounded(data):
    assert QuickJob(FPN_CELLS, 1, 10_000, data).budget == MAX_SECONDS
    jobs = quick.Jobs(limit=2)
    made = [QuickJob(FPN_CELLS, 1, 30, data) for _ in range(3)]
    tokens = [jobs.add(job) for job in made]
    assert len(jobs) == 2 and jobs.get(tokens[0]) is None and made[0].cancelled
    assert jobs.get(tokens[2]) is made[2]


def test_no_training_without_the_data_package(tmp_path, monkeypatch):
    monkeypatch.setenv(cutouts.ROOT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataSourceMissing) as caught:
        quick_data(folder=tmp_path / "cache")
    assert PACKAGE in str(caught.value)
    shown = tab.load_preset(Session(lang="zh"), "NAS-FPN")
    with pytest.raises(gr.Error) as refused:
        tab.start_training(Session(lang="zh"), shown.table, shown.name, 1, 60, progress=lambda *a, **k: None)
    assert PACKAGE in refused.value.message and "训练数据" in refused.value.message
    assert not (tmp_path / "cache").exists()  # refused before any work


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_playground_trains_in_slices_then_shows_ap(data, monkeypatch, lang):
    monkeypatch.setattr(tab, "quick_data", lambda progress=None: data)
    monkeypatch.setattr(quick, "STEP_CAP", 0.1)  # 30 s → 3 steps
    session = Session(lang=lang)
    shown = tab.load_preset(session, "FPN (in cells)")
    started = tab.start_training(session, shown.table, shown.name, 1, 30, progress=lambda *a, **k: None)
    assert started.token and started.ticking.active
    notes, view = [], started
    for _ in range(10):
        view = tab.advance_training(session, view.token)
        notes.append(view.note)
        if view.token is None:
            break
    assert view.token is None and not view.ticking.active and len(notes) >= 2
    assert ("held-out AP" if lang == "en" else "留出集 AP") in notes[-1]
    assert all(("held-out AP" if lang == "en" else "留出集 AP") not in note for note in notes[:-1])
    rows = view.board.value["data"] if isinstance(view.board.value, dict) else view.board.value
    assert len(rows) == 1 and 1 <= rows[0][1] <= 3  # this design (the FPN preset), at most 3 steps
    assert tab.advance_training(session, started.token).note == tab.t("playground.train_lost", lang)


def test_cancel_stops_the_run_and_evaluates_nothing(data, monkeypatch):
    monkeypatch.setattr(tab, "quick_data", lambda progress=None: data)
    session = Session()
    shown = tab.load_preset(session, "NAS-FPN")
    started = tab.start_training(session, shown.table, shown.name, 1, 60, progress=lambda *a, **k: None)
    job = quick.JOBS.get(started.token)
    stopped = tab.cancel_training(session, started.token)
    assert job is not None and job.cancelled and stopped.token is None and not stopped.ticking.active
    assert "cancelled" in stopped.note and quick.JOBS.get(started.token) is None


def test_the_search_ranks_by_short_training_ap():
    def made(ap: float | None, params: int) -> Candidate:
        return Candidate(NAS_FPN, "", NeckRow("x", "x", params=params, flops=1, latency_ms=1.0, erf_percent=1.0),
                         ap=ap)

    low, high, none = made(3.0, 10), made(9.0, 99), made(None, 1)
    assert AP in PROXIES and rank([low, none, high], [AP]) == [high, low, none]
    assert rank([low, high], [AP, list(PROXIES)[0]])[0].score == rank([low, high], [AP, list(PROXIES)[0]])[1].score


def test_the_search_trains_each_candidate_when_ranking_by_ap():
    import numpy as np
    from PIL import Image

    from necklab.lab import playground
    from necklab.lab.imaging import Picture
    from tests.conftest import SAMPLES
    im = Image.open(SAMPLES / "chelsea.png").convert("RGB").resize((160, 112))
    picture = Picture(np.asarray(im).copy(), (160, 112), "PNG", 1)
    trained = []

    def train(design) -> float:
        trained.append(design.cells)
        return float(len(trained))  # later candidates "score" higher

    found = playground.random_search(picture, PANET_CELLS, 1, [AP], count=2, seconds=600, seed=1, train=train,
                                     train_seconds=1)
    assert len(trained) == len(found) == 3
    assert [c.ap for c in found] == [3.0, 2.0, 1.0]
    with pytest.raises(ValueError, match="trainer"):
        playground.random_search(picture, PANET_CELLS, 1, [AP], count=1, seconds=0)
