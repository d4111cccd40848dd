"""The app served on 127.0.0.1: a gradio_client call and a real browser (Debian chromium + playwright)."""
from __future__ import annotations

import shutil
import socket
from collections.abc import Iterator

import pytest

import app
from tests.conftest import SAMPLES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    demo = app.build_app().queue(default_concurrency_limit=2)
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    yield f"http://127.0.0.1:{settings['server_port']}/"
    demo.close()


def test_gradio_client_analyze(server):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    top5, overview, channels, table, status = client.predict(
        handle_file(str(SAMPLES / "coffee.png")), "cpu", "C5", api_name="/analyze")
    assert top5["label"] == "espresso"
    assert [row[0] for row in table["data"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert "600×400" in status


def test_browser_upload_analyze_and_heatmaps(server, tmp_path):
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        page.locator("#picture input[type=file]").set_input_files(str(SAMPLES / "chelsea.png"))
        page.locator("#picture img").first.wait_for(timeout=20_000)
        page.locator("#analyze").click()
        page.locator("#levels img").first.wait_for(timeout=90_000)
        page.locator("#channels img").first.wait_for(timeout=30_000)
        assert "Egyptian cat" in page.locator("#top5").inner_text()
        assert page.locator("#shapes").inner_text().count("C") >= 5
        page.locator("#level label", has_text="C5").click()
        page.wait_for_function(
            "() => document.querySelector('#channels img') && "
            "!document.querySelector('#channels .pending, #channels .generating')", timeout=30_000)
        page.screenshot(path=str(tmp_path / "backbone.png"), full_page=True)
        browser.close()
    assert not errors, errors
