"""One client cannot block a class: every queued event shares one pool of WORKERS, the line is
served round-robin across sessions, and a session's waiting events are bounded. The workers are
held by a gate the test opens (tests/test_queue.py), so the line forms on any machine."""
from __future__ import annotations

import inspect
import threading
import time
from types import SimpleNamespace

import gradio as gr
import httpx
import pytest
from gradio import queueing

import app
from necklab.ui import backbone_tab
from necklab.ui.fair_queue import (
    HALF_LIFE_S,
    HOG_S,
    STEP_WORKERS,
    STEPS,
    WAITING_PER_SESSION,
    WORK,
    WORKERS,
    FairLine,
    chosen,
    least_served,
    serve_fairly,
)
from necklab.ui.live_tab import LIVE, LIVE_CAMERAS
from necklab.ui.neck_tab import slug
from tests.conftest import SAMPLES
from tests.test_queue import Gate
from tests.test_served import free_port


def line_of(*sessions: str) -> FairLine:
    line = FairLine()
    for session in sessions:
        line.append(SimpleNamespace(session_hash=session))
    return line


def test_the_line_interleaves_sessions_by_rank():
    assert [e.session_hash for e in line_of(*"AAAAB")] == list("ABAAA")
    assert [e.session_hash for e in line_of(*"AAABBC")] == list("ABCABA")
    assert [e.session_hash for e in line_of(*"ABAB")] == list("ABAB")  # already fair: unchanged


def test_a_free_worker_serves_the_session_that_had_the_least_time_lately():
    line = line_of(*"AABC")  # A's script of long Analyze calls is first in line
    recent = {"A": 12.0, "B": 0.3, "C": 0.3}.__getitem__
    assert least_served(line, recent).session_hash == "B"  # least work; the line's order breaks the tie with C
    assert least_served(line_of("A", "A"), recent).session_hash == "A"  # alone in line: it runs
    assert least_served([], recent) is None
    hog = {"A": HOG_S + 1}.__getitem__
    assert least_served(line_of("A"), hog, busy=True) is None  # over its share: waits for an idle pool
    assert least_served(line_of("A"), hog, busy=False).session_hash == "A"


def test_a_free_step_worker_takes_the_first_step_in_line_whatever_its_session_s_work():
    recent = {"A": 60.0, "B": 0.3}.__getitem__  # A's tab run just took a minute
    assert chosen(STEPS, line_of("A", "B"), recent).session_hash == "A"
    assert chosen(WORK, line_of("A", "B"), recent).session_hash == "B"
    assert chosen(STEPS, [], recent) is None


def test_a_session_s_work_counts_less_as_time_passes():
    queue = serve_fairly(gr.Blocks())._queue
    queue.count_work("script", 8.0)
    now = time.monotonic()
    assert queue.recent_work("script", now) == pytest.approx(8.0, rel=0.01)
    assert queue.recent_work("script", now + HALF_LIFE_S) == pytest.approx(4.0, rel=0.01)
    assert queue.recent_work("student", now) == 0.0


def test_every_queued_event_shares_one_pool_but_the_camera_and_the_steps_have_their_own():
    demo = serve_fairly(app.build_app())
    tabs = [*(slug(title).replace("-", "_") for title in app.tab_groups()), "playground"]
    steps = [fn for fn in demo.fns.values() if fn.api_name in {f"{tab}_step" for tab in tabs}]
    assert len(steps) == len(tabs)  # every neck tab's step, and the playground's
    assert {(fn.concurrency_id, fn.concurrency_limit) for fn in steps} == {(STEPS, STEP_WORKERS)}
    queued = [fn for fn in demo.fns.values() if fn.queue and fn.connection != "stream" and fn not in steps]
    assert len(queued) > 20 and {(fn.concurrency_id, fn.concurrency_limit) for fn in queued} == {(WORK, WORKERS)}
    assert not any(fn.batch for fn in queued)  # the fair queue runs one event at a time
    streams = [fn for fn in demo.fns.values() if fn.connection == "stream"]
    assert [(fn.concurrency_id, fn.concurrency_limit) for fn in streams] == [(LIVE, LIVE_CAMERAS)]


def test_the_queue_computes_no_summary_of_its_events(monkeypatch):
    """Gradio's queue builds a pandas frame of every event it recorded after each event, for a
    monitoring page the app does not serve; the fair queue leaves the summary as it was."""
    import pandas as pd

    demo = serve_fairly(app.build_app())
    queue = demo._queue
    records = [{"function": "analyze", "status": "success", "process_time": 0.5}] * 50
    queue.events_recorded = 50  # what Gradio counts before it asks for the summary
    monkeypatch.setattr(pd, "DataFrame", lambda *a, **k: pytest.fail("a frame was built"))
    assert queue.compute_analytics_summary(records) == {"functions": {}}
    assert "compute_analytics_summary" in inspect.getsource(queueing.Queue.process_events)  # what it replaces


@pytest.fixture()
def fair_server(request, monkeypatch):
    holds = getattr(request, "param", lambda picture: True)
    gate = Gate(backbone_tab.run_backbone, holders=WORKERS, holds=holds)
    monkeypatch.setattr(backbone_tab, "run_backbone", gate)
    append = FairLine.append

    def notifying(line: FairLine, event) -> None:
        append(line, event)
        with LINE_CHANGED:
            LINE_CHANGED.notify_all()

    monkeypatch.setattr(FairLine, "append", notifying)
    demo = serve_fairly(app.build_app())
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    try:
        yield demo, gate, f"http://127.0.0.1:{settings['server_port']}/"
    finally:
        gate.open.set()
        demo.close()


# Every event joining a line notifies this condition: a test waits for the line it expects, not for time.
LINE_CHANGED = threading.Condition()


def wait_until(condition, what: str) -> None:
    """Wait until `condition()` holds; it is checked now and again whenever an event joins a line."""
    with LINE_CHANGED:
        assert LINE_CHANGED.wait_for(condition, timeout=300), f"never happened: {what}"


@pytest.mark.slow
def test_a_script_flooding_the_line_does_not_delay_a_student_and_is_bounded(fair_server):
    from gradio_client import Client, handle_file

    demo, gate, url = fair_server
    line = demo._queue.event_queue_per_concurrency_id
    clients = {name: Client(url, verbose=False, analytics_enabled=False, download_files=False)
               for name in ("busy", "busy too", "script", "student")}
    picture = handle_file(str(SAMPLES / "coffee.png"))

    def analyze(name: str):
        return clients[name].submit(picture, "cpu", "C3", api_name="/analyze")

    def waiting(name: str) -> int:
        return demo._queue.waiting(clients[name].session_hash)

    busy = [analyze(name) for name in ("busy", "busy too")]  # a session runs one event at a time
    assert gate.entered.wait(timeout=300), "the workers never started"
    script = [analyze("script") for _ in range(WAITING_PER_SESSION)]
    wait_until(lambda: waiting("script") == WAITING_PER_SESSION, "the script's events waiting")
    # One more than a session may have waiting: refused (gradio_client words any 503 as "Queue is full").
    with pytest.raises(Exception, match="Queue is full"):
        analyze("script").result(timeout=120)
    fn_index = next(i for i, fn in demo.fns.items() if fn.api_name == "analyze")
    joined = httpx.post(url + "gradio_api/queue/join", trust_env=False, timeout=60,
                        json={"data": [], "fn_index": fn_index, "session_hash": clients["script"].session_hash})
    assert joined.status_code == 503 and "already has 6 requests waiting" in joined.json()["detail"], joined.text
    student = analyze("student")
    wait_until(lambda: waiting("student") == 1, "the student's event waiting")
    order = [e.session_hash for e in line[WORK].queue]
    assert order.index(clients["student"].session_hash) == 1, "the student waits for one script event, not six"
    gate.open.set()
    assert student.result(timeout=300)[-1].startswith("Analysed at")
    assert all(job.result(timeout=300)[-1].startswith("Analysed at") for job in busy + script)


def big_pictures(picture) -> bool:
    return picture.size[0] * picture.size[1] > 600 * 600  # hubble_deep_field.jpg, not chelsea.png


@pytest.mark.slow
@pytest.mark.parametrize("fair_server", [big_pictures], indirect=True)
def test_a_session_holds_at_most_one_worker(fair_server):
    """A script's three Analyze calls on a big picture, held at the gate: one runs, two wait, and
    the second worker serves a student meanwhile."""
    from gradio_client import Client, handle_file

    demo, gate, url = fair_server
    gate.holders = 1
    clients = [Client(url, verbose=False, analytics_enabled=False, download_files=False) for _ in range(2)]
    script = [clients[0].submit(handle_file(str(SAMPLES / "hubble_deep_field.jpg")), "cpu", "C3", api_name="/analyze")
              for _ in range(3)]
    assert gate.entered.wait(timeout=300)
    line = demo._queue.event_queue_per_concurrency_id[WORK].queue
    wait_until(lambda: len(line) == 2, "two of the script's calls waiting")
    student = clients[1].submit(handle_file(str(SAMPLES / "chelsea.png")), "cpu", "C3", api_name="/analyze")
    assert "Egyptian cat" in str(student.result(timeout=300)), "the free worker did not serve the student"
    assert gate.waiting == 1 and len(line) == 2  # the script still holds one worker, no more
    gate.open.set()
    assert all(job.result(timeout=300)[-1].startswith("Analysed at") for job in script)
