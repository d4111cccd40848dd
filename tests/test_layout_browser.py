"""In chromium at a projector's 1280×720 (and a laptop's 1366×768): one step is on one screen.

"One screen" here: after Analyze, with the tab's step controls scrolled to the top of the window
(where the screenshot script and a teacher land), the step's graph, its map, and the Prev and Next
buttons all lie inside that one viewport at once — no scrolling between reading the graph, the map
and stepping on. The node table shows its every column: every header, the last included, lies inside the
table's box with nothing in it scrolled sideways."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import SAMPLES
from tests.test_served import analyse_in_browser, browser_page, server  # noqa: F401  (server: a fixture)

LOADED = ("(id) => { const img = document.querySelector(`#${id} img`); "
          "return img && img.complete && img.naturalWidth > 0; }")
SCROLLED_SIDEWAYS = "(id) => [...document.querySelectorAll(`#${id} *`)].filter(e => e.scrollLeft > 0).length"


def inside(page, selector: str) -> None:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    assert box is not None, selector
    assert box["height"] > 0 and box["width"] > 0, (selector, box)
    # ±1 px: the scroll lands on sub-pixels
    assert -1 <= box["y"] and box["y"] + box["height"] <= size["height"] + 1, (selector, box, size)
    assert 0 <= box["x"] and box["x"] + box["width"] <= size["width"] + 1, (selector, box, size)


def step_on_one_screen(page, key: str) -> None:
    page.locator(f"button[data-tab-id={key}]").click()
    expect(page.locator(f"#{key}-narration")).to_contain_text("Step 0 of", timeout=120_000)
    for box in (f"{key}-graph", f"{key}-stepfig"):
        page.wait_for_function(LOADED, arg=box, timeout=60_000)
    page.locator(f"#{key}-prev").evaluate("e => e.scrollIntoView({block: 'start'})")
    for selector in (f"#{key}-prev", f"#{key}-next", f"#{key}-graph img", f"#{key}-stepfig img"):
        inside(page, selector)
    graph = page.locator(f"#{key}-graph img").bounding_box()
    assert graph is not None and graph["height"] >= 200  # a graph, not a thumbnail of one


def every_column_shows(page, key: str) -> None:
    """Every header of the node table lies inside the table as it is laid out, nothing scrolled."""
    table = page.locator(f"#{key}-table")
    expect(table.locator("th").last).to_contain_text("params")
    table.evaluate("e => e.scrollIntoView({block: 'start'})")  # down the page, never sideways
    frame = table.bounding_box()
    assert frame is not None
    for header in table.locator("th").all():
        box = header.bounding_box()
        assert box is not None and box["width"] > 0
        assert frame["x"] - 0.5 <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 0.5, \
            (header.inner_text(), box, frame)
    assert page.evaluate(SCROLLED_SIDEWAYS, f"{key}-table") == 0


@pytest.mark.browser
@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_browser_one_step_fits_one_screen(server, size):  # noqa: F811
    with browser_page(server) as (page, errors):
        page.set_viewport_size({"width": size[0], "height": size[1]})
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        for key in ("panet", "nas-fpn"):  # a long graph; the longest node table
            step_on_one_screen(page, key)
            every_column_shows(page, key)
        page.locator("#nas-fpn-next").click()  # a step of one node draws in the same boxes
        expect(page.locator("#nas-fpn-narration")).to_contain_text("Step 1 of", timeout=30_000)
        page.locator("#nas-fpn-prev").evaluate("e => e.scrollIntoView({block: 'start'})")
        for selector in ("#nas-fpn-next", "#nas-fpn-graph img", "#nas-fpn-stepfig img"):
            inside(page, selector)
    assert not errors, errors
