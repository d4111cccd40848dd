"""A session's state is given back: at once when its page closes (Gradio would keep it an hour),
and STATE_TTL after its last change for a client that never closes (Gradio: for ever)."""
from __future__ import annotations

import functools
import threading

import pytest

import app
from necklab.ui.fair_queue import serve_fairly
from necklab.ui.lifetimes import STATE_TTL
from tests.conftest import SAMPLES
from tests.test_served import browser_page, free_port


def test_every_state_expires_after_its_ttl():
    demo = app.build_app()
    states = [b for b in demo.blocks.values() if b.__class__.__name__ == "State"]
    assert len(states) > 5 and {s.time_to_live for s in states} == {STATE_TTL}


@pytest.mark.browser
def test_a_closed_page_gives_its_state_back_at_once():
    demo = serve_fairly(app.build_app())
    forgotten = threading.Event()  # set once the unload listener has run to its end
    [unload] = [fn for fn in demo.fns.values() if any(target[1] == "unload" for target in fn.targets)]
    forget = unload.fn

    @functools.wraps(forget)  # Gradio reads its signature to hand it the request
    def forgetting(*args, **kwargs):
        try:
            return forget(*args, **kwargs)
        finally:
            forgotten.set()

    unload.fn = forgetting
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    holder = demo.server_app.state_holder
    try:
        with browser_page(f"http://127.0.0.1:{settings['server_port']}/") as (page, errors):
            page.locator("#picture input[type=file]").set_input_files(str(SAMPLES / "chelsea.png"))
            page.locator("#picture img").first.wait_for(timeout=30_000)
            page.locator("#analyze").click()
            page.locator("#levels img").first.wait_for(timeout=300_000)
            [session] = [s for s in holder.session_data if holder.session_data[s].state_data]
            page.close()  # the page's heartbeat ends: Gradio runs the unload listeners
            assert forgotten.wait(timeout=300), "the unload listener never ran"
        assert session not in holder.session_data, "the closed page's state is still kept"
        assert not errors, errors
    finally:
        demo.close()
