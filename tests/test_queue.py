"""A burst waits in line: with both workers busy, a browser's Analyze shows its place in the queue
(Gradio's status tracker), then completes."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

import app
from tests.conftest import SAMPLES
from tests.test_served import browser_page, free_port


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    demo = app.build_app().queue(**app.QUEUE)
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    yield f"http://127.0.0.1:{settings['server_port']}/"
    demo.close()


def test_a_waiting_browser_sees_its_queue_position(server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False, analytics_enabled=False, download_files=False)
    busy = [client.submit(handle_file(str(SAMPLES / name)), "cpu", "C3", api_name="/analyze")
            for name in ("hubble_deep_field.jpg", "astronaut.png", "coffee.png", "rocket.jpg")]
    with browser_page(server) as (page, errors):
        page.locator("#picture input[type=file]").set_input_files(str(SAMPLES / "chelsea.png"))
        page.locator("#picture img").first.wait_for(timeout=30_000)
        page.locator("#analyze").click()
        position = page.locator("#levels").get_by_text("queue:", exact=False).first
        expect(position).to_be_visible(timeout=30_000)
        text = position.inner_text()
        page.screenshot(path=str(tmp_path / "queued.png"))
        page.locator("#levels img").first.wait_for(timeout=300_000)
        assert "Egyptian cat" in page.locator("#top5").inner_text()
    assert not errors, errors
    assert text.startswith("queue:") and int(text.split(":")[1].split("/")[0]) >= 1, text
    assert all(job.result(timeout=300)[-1].startswith("Analysed at") for job in busy)
