"""A burst waits in line: with both workers busy, a browser's Analyze shows its place in the queue
(Gradio's status tracker), then completes."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import SAMPLES
from tests.test_served import browser_page, server  # noqa: F401  (a module-scoped app of its own)


@pytest.mark.browser
def test_a_waiting_browser_sees_its_queue_position(server, tmp_path):  # noqa: F811 (the fixture imported above)
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
