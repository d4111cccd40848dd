"""A burst waits in line: with both Analyze workers held, a browser's Analyze shows its place in the
queue (Gradio's status tracker), then completes once the workers are let go. The workers are held by
a gate the test opens, so the queue forms however fast or busy the machine is."""
from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from necklab.ui import backbone_tab
from necklab.ui.fair_queue import WORKERS
from tests.conftest import SAMPLES
from tests.test_served import browser_page, server  # noqa: F401  (a module-scoped app of its own)


class Gate:
    """Wraps the backbone run: every call (or each call `holds` picks by its picture) waits until the
    test opens the gate; `entered` is set once `holders` calls are waiting there."""

    def __init__(self, run, holders: int, holds=lambda picture: True) -> None:
        self.run, self.holders, self.holds, self.waiting = run, holders, holds, 0
        self.lock, self.entered, self.open = threading.Lock(), threading.Event(), threading.Event()

    def __call__(self, picture, *args, **kwargs):
        if not self.holds(picture):
            return self.run(picture, *args, **kwargs)
        with self.lock:
            self.waiting += 1
            if self.waiting >= self.holders:
                self.entered.set()
        self.open.wait(timeout=600)
        return self.run(picture, *args, **kwargs)


@pytest.mark.browser
def test_a_waiting_browser_sees_its_queue_position(server, tmp_path, monkeypatch):  # noqa: F811
    from gradio_client import Client, handle_file

    gate = Gate(backbone_tab.run_backbone, holders=WORKERS)
    monkeypatch.setattr(backbone_tab, "run_backbone", gate)
    try:  # three students (a session runs one event at a time): two hold the workers, one waits
        busy = [Client(server, verbose=False, analytics_enabled=False, download_files=False).submit(
                    handle_file(str(SAMPLES / name)), "cpu", "C3", api_name="/analyze")
                for name in ("astronaut.png", "coffee.png", "rocket.jpg")]
        assert gate.entered.wait(timeout=300), "the Analyze workers never started"
        with browser_page(server) as (page, errors):
            page.locator("#picture input[type=file]").set_input_files(str(SAMPLES / "chelsea.png"))
            page.locator("#picture img").first.wait_for(timeout=30_000)
            page.locator("#analyze").click()
            position = page.locator("#levels").get_by_text("queue:", exact=False).first
            expect(position).to_be_visible(timeout=60_000)
            text = position.inner_text()
            page.screenshot(path=str(tmp_path / "queued.png"))
            gate.open.set()
            page.locator("#levels img").first.wait_for(timeout=300_000)
            assert "Egyptian cat" in page.locator("#top5").inner_text()
    finally:
        gate.open.set()
    assert not errors, errors
    # Two held, one waiting before it: the browser's Analyze is at least second in line.
    assert text.startswith("queue:") and int(text.split(":")[1].split("/")[0]) >= 1, text
    assert all(job.result(timeout=300)[-1].startswith("Analysed at") for job in busy)
