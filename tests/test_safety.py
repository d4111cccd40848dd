"""Safety of the served app: what a hostile API client cannot do, and what the server survives."""
from __future__ import annotations

import ast
import json
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import httpx
import numpy as np
import pytest
import torch
from PIL import Image

import app
from necklab.models.backbone import EfficientNetLite0
from necklab.ui.fair_queue import serve_fairly
from necklab.ui.offline import forbid_outbound, outbound_host
from tests.conftest import SAMPLES
from tests.test_served import free_port

ROOT = Path(__file__).resolve().parent.parent
FILE_DATA = {"_type": "gradio.FileData"}


def test_every_torch_load_in_the_repo_is_weights_only():
    calls = []
    for path in ROOT.rglob("*.py"):
        if {".venv", "out", ".git"} & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                safe = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                           for k in node.keywords)
                calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", safe))
    assert calls, "the backbone's weights are loaded with torch.load somewhere"
    assert all(safe for _, safe in calls), [where for where, safe in calls if not safe]


class Watch:
    """An audit hook (they cannot be removed, so one per test module) that records the files this
    process opens and the non-local hosts it resolves or connects to, while armed. Installed after
    the app's own guard, it sees only what the guard let through."""

    def __init__(self) -> None:
        self.armed = False
        self.opened: list[str] = []
        self.network: list[str] = []
        sys.addaudithook(self.hook)

    def hook(self, event: str, args: tuple) -> None:
        if not self.armed:
            return
        if event == "open" and isinstance(args[0], (str, bytes, Path)):
            self.opened.append(str(args[0]))
        elif (host := outbound_host(event, args)) is not None:
            self.network.append(host)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    forbid_outbound()  # as app.main does
    demo = serve_fairly(app.build_app())
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    yield f"http://127.0.0.1:{settings['server_port']}"
    demo.close()


@pytest.fixture(scope="module")
def watch(server) -> Watch:
    return Watch()


def call(server: str, api_name: str, data: list) -> tuple[str, str]:
    """One call over Gradio's HTTP API, as any script could make it: (final event, its data)."""
    with httpx.Client(base_url=server, timeout=120, trust_env=False) as http:
        r = http.post(f"/gradio_api/call/{api_name}", json={"data": data})
        if r.status_code != 200:
            return "refused", r.text
        event, payload = "", ""
        with http.stream("GET", f"/gradio_api/call/{api_name}/{r.json()['event_id']}") as stream:
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    payload = line.split(":", 1)[1].strip()
        return event, payload


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    """A real picture outside Gradio's upload cache: if the server ever opened it, analysing would work."""
    path = tmp_path_factory.mktemp("outside") / "secret.png"
    shutil.copy(SAMPLES / "coffee.png", path)
    return path


@pytest.mark.parametrize("value", [
    "{secret}",
    {"path": "{secret}"},
    {"path": "{secret}", "meta": FILE_DATA},
    {"path": "/etc/passwd", "meta": FILE_DATA},
    {"path": "/tmp/gradio/../../etc/passwd", "meta": FILE_DATA},
    {"path": "http://203.0.113.7/cat.png", "meta": FILE_DATA},  # would make the server fetch a URL
    {"path": "{secret}", "url": "{secret}", "is_stream": True, "meta": FILE_DATA},
], ids=["string", "dict without meta", "FileData", "etc-passwd", "traversal", "url", "stream"])
@pytest.mark.slow
def test_an_api_client_cannot_make_the_server_open_a_path(server, watch, secret, value, caplog):
    value = json.loads(json.dumps(value).replace("{secret}", str(secret)))
    watch.opened.clear()
    watch.network.clear()
    watch.armed = True
    try:
        event, payload = call(server, "analyze", [value, "cpu", "C3", "en"])  # the last input: the language
    finally:
        watch.armed = False
    assert event in ("error", "refused"), (event, payload[:300])
    assert "espresso" not in payload
    assert not [p for p in watch.opened if p in (str(secret), "/etc/passwd") or p.endswith("etc/passwd")]
    assert not watch.network, watch.network
    if isinstance(value, dict) and value["path"].startswith("http"):
        assert "refused an outbound connection" in caplog.text


@pytest.mark.slow
def test_an_upload_over_the_limit_is_refused_with_413(server, tmp_path):
    big = tmp_path / "panorama.jpg"
    big.write_bytes(b"\xff\xd8\xff" + bytes(26 * 1024 * 1024))
    with httpx.Client(base_url=server, timeout=120, trust_env=False) as http, big.open("rb") as f:
        r = http.post("/gradio_api/upload", files={"files": ("panorama.jpg", f, "image/jpeg")})
    assert r.status_code == 413
    assert "25" in r.text or "size" in r.text.lower(), r.text


def multipart_parts(data: bytes, count: int) -> Iterator[bytes]:
    """A multipart body of `count` files, streamed (so sent chunked, with no Content-Length)."""
    for i in range(count):
        yield f'--x\r\nContent-Disposition: form-data; name="files"; filename="{i}.png"\r\n'.encode()
        yield b"Content-Type: image/png\r\n\r\n" + data + b"\r\n"
    yield b"--x--\r\n"


@pytest.mark.slow
def test_a_request_is_bounded_as_a_whole_not_only_per_file(server):
    """Five 6 MB files pass the per-file limit, one request of 30 MB does not; nor does a body sent
    without a length (chunked). A one-file upload under the bound still works."""
    from necklab.ui.limits import MAX_BODY_BYTES

    chunk = bytes(6 * 1024 * 1024)
    with httpx.Client(base_url=server, timeout=120, trust_env=False) as http:
        five = http.post("/gradio_api/upload", files=[("files", (f"{i}.png", chunk, "image/png")) for i in range(5)])
        chunked = http.post("/gradio_api/upload", content=multipart_parts(chunk, 5),
                            headers={"content-type": "multipart/form-data; boundary=x"})
        one = http.post("/gradio_api/upload", files={"files": ("chelsea.png", (SAMPLES / "chelsea.png").read_bytes(),
                                                                "image/png")})
    assert 5 * len(chunk) > MAX_BODY_BYTES
    assert (five.status_code, chunked.status_code) == (413, 413), (five.text, chunked.text)
    assert "one file of at most 25 MB" in five.text and "one file of at most 25 MB" in chunked.text
    assert one.status_code == 200 and one.json()[0].endswith("chelsea.png"), one.text


@pytest.mark.slow
def test_out_of_memory_is_reported_with_a_suggestion_and_the_server_keeps_serving(server, tmp_path, monkeypatch):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    fresh = tmp_path / "fresh.png"  # a picture no earlier test analysed: the backbone is not cached
    Image.fromarray(np.random.default_rng(7).integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(fresh)
    forward = EfficientNetLite0.forward_features

    def out_of_memory(self, *args, **kwargs):
        monkeypatch.setattr(EfficientNetLite0, "forward_features", forward)  # only the first run fails
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(EfficientNetLite0, "forward_features", out_of_memory)
    client = Client(server + "/", verbose=False)
    with pytest.raises(AppError, match="ran out of memory.*smaller picture.*cpu"):
        client.predict(handle_file(str(fresh)), "cpu", "C3", api_name="/analyze")
    top5, *_, status = client.predict(handle_file(str(fresh)), "cpu", "C3", api_name="/analyze")
    assert "Analysed at 96×64 px" in status and len(top5["confidences"]) == 5
    top5, *_ = client.predict(handle_file(str(SAMPLES / "coffee.png")), "cpu", "C3", api_name="/analyze")
    assert top5["label"] == "espresso"


def test_out_of_memory_message_follows_the_session_language():
    """Gradio calls an event's function with the session's box first; the message is in its language."""
    from necklab.i18n import t
    from necklab.widgets.events import event
    from necklab.widgets.session import Session, SessionBox

    def handler(session, analysis, k):
        raise torch.OutOfMemoryError("CUDA out of memory")

    for lang in ("en", "zh"):
        with pytest.raises(gr.Error) as raised:
            event(handler)(SessionBox(Session(lang=lang)), None, 0)
        assert raised.value.message == t("common.out_of_memory", lang)


def test_a_slow_handler_stops_at_its_time_limit_with_a_message_in_the_session_language(monkeypatch):
    from functools import partial

    from necklab.i18n import t
    from necklab.widgets import events
    from necklab.widgets.session import Session, SessionBox

    clock = iter(range(0, 1000, 40))  # each look at the clock: 40 s later
    monkeypatch.setattr(events.time, "monotonic", lambda: next(clock))
    reports = []

    @events.time_limit(60)
    def slow(session, count, progress=None):
        for i in range(count):
            progress(i / count, desc="working")
            reports.append(i)
        return "done"

    for lang in ("en", "zh"):
        reports.clear()
        with pytest.raises(gr.Error) as raised:  # made at 0: reports at 40 (kept) and 80 (past 60: stopped)
            events.event(partial(slow, count=5))(SessionBox(Session(lang=lang)), progress=lambda *a, **k: None)
        assert raised.value.message == t("common.too_long", lang, seconds=60) and reports == [0]
    assert events.event(slow)(SessionBox(Session()), 1, progress=lambda *a, **k: None) == "done"
    with pytest.raises(gr.Error, match="60"):  # Gradio gave it no progress tracker: limited all the same
        events.event(partial(slow, count=5))(SessionBox(Session()))


def test_the_slowest_handlers_have_time_limits():
    from necklab.ui import backbone_tab, compare_tab, export, neck_tab, playground_tab

    slowest = (backbone_tab.analyze, neck_tab.run_neck, export.export_lesson, compare_tab.compare,
               compare_tab.compare_erfs, playground_tab.run, playground_tab.compare)
    assert all(0 < getattr(handler, "time_limit", 0) <= 120 for handler in slowest)


class Leaked(AssertionError):
    """Raised by a hook installed after the guard, which sees only what the guard let through."""


def test_a_datagram_to_another_host_is_refused_before_it_is_sent():
    """UDP needs no connect: sendto (and sendmsg) name the peer, and the guard refuses those too.
    Audit hooks run before the call and in order, so a datagram the guard missed would raise Leaked
    here instead of leaving: nothing is sent to the (documentation-range) address either way."""
    forbid_outbound()  # as app.main does

    def leaked(event: str, args: tuple) -> None:
        if outbound_host(event, args) is not None:
            raise Leaked(f"{event} {args[1]}")

    sys.addaudithook(leaked)
    outside = ("203.0.113.7", 9)  # TEST-NET-3 (RFC 5737), the discard port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as inside, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        inside.bind(("127.0.0.1", 0))
        inside.settimeout(30)
        with pytest.raises(ConnectionRefusedError, match="refused 203.0.113.7"):
            sender.sendto(b"out", outside)
        with pytest.raises(ConnectionRefusedError, match="refused 203.0.113.7"):
            sender.sendmsg([b"out"], [], 0, outside)
        sender.sendto(b"loopback", inside.getsockname())
        assert inside.recv(64) == b"loopback"


def test_the_app_deletes_its_temp_files_on_a_schedule():
    """Every upload, drawn step and export is a Gradio temp file: without delete_cache they stayed forever."""
    frequency, age = app.build_app().delete_cache
    assert 0 < frequency <= 3600 and 3600 <= age <= 86400


@pytest.mark.slow
def test_a_class_password_guards_the_app_and_its_api():
    """With NECKLAB_PASSWORD set, nothing but the login page answers before the password is given."""
    demo = serve_fairly(app.build_app())
    settings = app.launch_settings("127.0.0.1", free_port(), password="tiger-7")
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    url = f"http://127.0.0.1:{settings['server_port']}"
    try:
        with httpx.Client(base_url=url, timeout=60, trust_env=False) as http:
            assert http.get("/config").status_code == 401
            wrong = http.post("/login", data={"username": "ana", "password": "tiger-8"})
            assert wrong.status_code == 400
            assert http.get("/config").status_code == 401
            right = http.post("/login", data={"username": "ana", "password": "tiger-7"})
            assert right.status_code == 200 and right.json() == {"success": True}
            assert http.get("/config").status_code == 200  # the login cookie now opens it
    finally:
        demo.close()
