"""In chromium: each neck tab opens on its idea. After the tab runs, PANet's bottom-up path, ASPP's
dilated branch and NAS-FPN's first merging cell are on screen within three clicks (one jump; or Next
from the opening), the opening expands into a step per node, and ASPP's small-rates preset reruns."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import SAMPLES
from tests.test_served import analyse_in_browser, browser_page, server  # noqa: F401  (server: a fixture)


def open_tab(page, key: str) -> None:
    """Show a neck tab; it runs its neck on the analysed picture and shows the opening."""
    page.locator(f"button[data-tab-id={key}]").click()
    expect(page.locator(f"#{key}-narration")).to_contain_text("Step 0 of", timeout=120_000)


@pytest.mark.browser
def test_browser_each_neck_tab_shows_its_idea_within_three_clicks(server):  # noqa: F811
    with browser_page(server) as (page, errors):
        page.locator("button[data-tab-id=nas-fpn]").click()  # before any picture: nothing to jump to
        expect(page.locator("#nas-fpn-stage")).to_be_hidden()
        expect(page.locator("#nas-fpn-jump-first-cell")).to_be_hidden()
        page.locator("button[data-tab-id=backbone]").click()
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))

        open_tab(page, "panet")
        narration = page.locator("#panet-narration")
        expect(narration).to_contain_text("the pyramid the neck starts from")
        page.locator("#panet-jump-bottom-up").click()  # click 1
        expect(narration).to_contain_text("Step 8 of 14 · N3", timeout=30_000)
        expect(narration).to_contain_text("3×3 s2 conv")  # the finer level shrunk onto this grid
        page.locator("#panet-lesson-mode button").first.click()  # open lesson mode
        expect(page.locator("#panet-lesson")).to_contain_text("the bottom-up merge", timeout=30_000)
        page.locator("#panet-every input").check()  # a step per node: the same node, its own number
        expect(narration).to_contain_text("Step 15 of 21 · N3", timeout=30_000)
        page.locator("#panet-every input").uncheck()
        expect(narration).to_contain_text("Step 8 of 14 · N3", timeout=30_000)

        open_tab(page, "nas-fpn")
        narration = page.locator("#nas-fpn-narration")
        page.locator("#nas-fpn-next").click()  # click 1: straight from the opening to the first cell
        expect(narration).to_contain_text("Step 1 of 63 · s1.gp_64_4", timeout=30_000)
        expect(narration).to_contain_text("global-pooling cell")
        page.locator("#nas-fpn-jump-stage-boundary").click()
        expect(narration).to_contain_text("Step 10 of 63 · s2.gp_64_4", timeout=30_000)
        expect(page.locator("#nas-fpn-stage")).to_be_visible()

        open_tab(page, "aspp")
        narration = page.locator("#aspp-narration")
        page.locator("#aspp-jump-dilated").click()  # click 1
        expect(narration).to_contain_text("Step 2 of 7 · rate12", timeout=30_000)
        expect(narration).to_contain_text("padding = rate")
        expect(narration).to_contain_text("only the centre tap lands on the map")
        page.locator("#aspp-try-small").click()  # rates 2, 4, 6, run again
        expect(page.locator("#aspp-aspp-atrous-rates textarea, #aspp-aspp-atrous-rates input").first) \
            .to_have_value("2, 4, 6", timeout=30_000)
        expect(narration).to_contain_text("Step 0 of 7", timeout=60_000)
        page.locator("#aspp-jump-dilated").click()
        expect(narration).to_contain_text("Step 2 of 7 · rate2", timeout=30_000)
        expect(narration).to_contain_text("all 9 taps land on the map")
    assert not errors, errors


@pytest.mark.browser
def test_browser_next_shows_the_step_sent_ahead_while_the_server_is_held(server, monkeypatch):  # noqa: F811
    """Prev / Next show the step beside the one on screen from what the server sent with it
    (`steps_around`), with no round trip: here the server's step drawing is held shut, and still
    the next step's narration, graph and map show, and Prev goes back. The step after that was not
    sent yet (it is sent after each step), so going on waits for the server; and going back to
    step 1 then shows the files it was sent ahead."""
    from necklab.ui import neck_tab
    from tests.test_queue import Gate

    with browser_page(server) as (page, errors):
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        open_tab(page, "fpn")
        narration = page.locator("#fpn-narration")
        sources = "() => ['#fpn-graph img', '#fpn-stepfig img'].map(s => document.querySelector(s).src)"
        opening = page.evaluate(sources)
        gate = Gate(neck_tab.shown_step, holders=1)
        monkeypatch.setattr(neck_tab, "shown_step", gate)
        try:
            page.locator("#fpn-next").click()
            expect(narration).to_contain_text("Step 1 of", timeout=30_000)  # sent ahead: shown at once
            sent = page.evaluate(sources)
            assert all(a != b for a, b in zip(sent, opening)), (sent, opening)
            assert gate.entered.wait(timeout=120), "the server was never asked for the step"
            page.locator("#fpn-prev").click()  # back to the opening: sent with it
            expect(narration).to_contain_text("Step 0 of", timeout=30_000)
            assert page.evaluate(sources) == opening
            page.locator("#fpn-next").click()
            expect(narration).to_contain_text("Step 1 of", timeout=30_000)
            page.locator("#fpn-next").click()  # step 2: not sent yet, so only the slider moves
            expect(page.locator("#fpn-step input[type=range]")).to_have_value("2", timeout=30_000)
            assert "Step 1 of" in narration.inner_text()
        finally:
            gate.open.set()
        expect(narration).to_contain_text("Step 2 of", timeout=60_000)  # the server's answer
        page.locator("#fpn-prev").click()
        expect(narration).to_contain_text("Step 1 of", timeout=30_000)
        expect(page.locator("#fpn-graph img")).to_have_attribute("src", sent[0], timeout=30_000)
    assert not errors, errors
