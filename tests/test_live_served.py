"""The Live tab in a real browser with chromium's fake camera: the maps follow the camera, the neck
and the language can change while it runs, and a second camera waits for the first."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

import app
from necklab.ui.fair_queue import serve_fairly
from tests.conftest import SAMPLES
from tests.test_safety import FILE_DATA, call
from tests.test_served import FAKE_CAMERA, browser_page, free_port

CHANGED = """([selector, before]) => {
    const img = document.querySelector(selector + ' img');
    return img !== null && img.src !== before;
}"""


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    demo = serve_fairly(app.build_app())
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    yield f"http://127.0.0.1:{settings['server_port']}/"
    demo.close()


@pytest.mark.slow
@pytest.mark.parametrize("path", [str(SAMPLES / "coffee.png"), "/etc/passwd"])
def test_an_api_client_cannot_make_the_live_endpoint_open_a_path(server, path):
    """The camera's input is preprocessed by Gradio, which opens only files in its upload cache."""
    event, payload = call(server.rstrip("/"), "live_frame", [{"path": path, "meta": FILE_DATA}, "fpn", "mean"])
    assert event == "error" and "data:image" not in payload


def maps_src(page: Any) -> str:
    return str(page.locator("#live-maps img").first.get_attribute("src"))


def wait_for_new_maps(page: Any, timeout: int = 60_000) -> str:
    """Wait until the maps show another frame than now (whatever the frame rate); returns its src."""
    before = maps_src(page)
    page.wait_for_function(CHANGED, arg=["#live-maps", before], timeout=timeout)
    return maps_src(page)


@pytest.mark.browser
def test_browser_the_maps_follow_the_fake_camera(server, tmp_path):
    with browser_page(server, args=FAKE_CAMERA) as (page, errors):
        page.locator("button[role=tab][data-tab-id=live]").click()
        expect(page.locator("#live-status")).to_contain_text("Start the camera")
        page.locator("#live-camera").get_by_text("Click to Access Webcam").click()  # Gradio's own words
        page.locator("#live-camera button.capture-button").click()  # Record: the stream starts
        page.locator("#live-maps img").first.wait_for(timeout=120_000)
        first = maps_src(page)
        assert first.startswith("data:image/jpeg;base64,")  # no temporary file per frame
        second = wait_for_new_maps(page)  # the fake camera's clock moves: the next frame's maps differ
        assert second != first
        expect(page.locator("#live-status")).to_contain_text("FPN")
        page.locator("#live-maps").screenshot(path=str(tmp_path / "fpn.png"))

        # another neck while the camera runs: the next frames are drawn with it
        page.locator("#live-neck input").click()
        page.get_by_role("option", name="BiFPN").click()
        expect(page.locator("#live-status")).to_contain_text("BiFPN", timeout=60_000)
        wait_for_new_maps(page)

        # another language while the camera runs: the next frames are worded in it (the switch is an
        # event of the same session: the fair queue must not hold it until the stream ends)
        page.locator("#language label", has_text="中文").click()
        expect(page.locator("#live-status")).to_contain_text("主干网络", timeout=60_000)
        wait_for_new_maps(page)
        page.locator("#live-maps").screenshot(path=str(tmp_path / "bifpn_zh.png"))

        page.locator("#live-camera button.capture-button").click()  # Stop
    assert not errors, errors


def start_camera(page: Any) -> None:
    page.locator("button[role=tab][data-tab-id=live]").click()
    page.locator("#live-camera").get_by_text("Click to Access Webcam").click()  # Gradio's own words
    page.locator("#live-camera button.capture-button").click()  # Record


@pytest.mark.browser
def test_browser_a_second_camera_waits_for_the_first(server):
    """One camera at a time (the stream's own concurrency limit): a second page's camera waits, in
    its own line, and gets its maps once the first stops."""
    with browser_page(server, args=FAKE_CAMERA) as (first, errors):
        start_camera(first)
        first.locator("#live-maps img").first.wait_for(timeout=120_000)
        second = first.context.browser.new_page(viewport={"width": 1400, "height": 1800})
        second.on("pageerror", lambda e: errors.append(str(e)))
        second.goto(server)
        start_camera(second)
        expect(second.locator("#live-camera button.capture-button")).to_contain_text("Waiting", timeout=30_000)
        assert second.locator("#live-maps img").count() == 0
        first.locator("#live-camera button.capture-button").click()  # Stop: the second camera's turn
        second.locator("#live-maps img").first.wait_for(timeout=120_000)
        wait_for_new_maps(second)
        second.locator("#live-camera button.capture-button").click()
    assert not errors, errors
