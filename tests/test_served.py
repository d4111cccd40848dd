"""The app served on 127.0.0.1: a gradio_client call and a real browser (Debian chromium + playwright)."""
from __future__ import annotations

import re
import shutil
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

import app
from necklab.models.registry import NECKS
from necklab.ui.fair_queue import serve_fairly
from necklab.ui.headers import HEADERS
from necklab.ui.neck_tab import slug
from tests.conftest import SAMPLES

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Chromium's built-in test camera (a moving pattern and a clock), granted without asking.
FAKE_CAMERA = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    demo = serve_fairly(app.build_app())  # as app.main serves it
    settings = app.launch_settings("127.0.0.1", free_port())
    demo.launch(prevent_thread_lock=True, quiet=True, **settings)
    yield f"http://127.0.0.1:{settings['server_port']}/"
    demo.close()


@pytest.mark.slow
def test_gradio_client_analyze(server):
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    top5, overview, channels, table, status = client.predict(
        handle_file(str(SAMPLES / "coffee.png")), "cpu", "C5", api_name="/analyze")
    assert top5["label"] == "espresso"
    assert [row[0] for row in table["data"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert "600×400" in status


@contextmanager
def browser_page(server: str, locale: str = "en-US", args: Sequence[str] = ()) -> Iterator[tuple[Any, list[str]]]:
    """A chromium page on the app, in a browser language, that collects console errors and page errors;
    `args`: more chromium flags (e.g. FAKE_CAMERA)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args])
        page = browser.new_page(viewport={"width": 1400, "height": 1800}, locale=locale)
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        yield page, errors
        browser.close()


def analyse_in_browser(page: Any, picture: str) -> None:
    page.locator("#picture input[type=file]").set_input_files(picture)
    page.locator("#picture img").first.wait_for(timeout=20_000)
    page.locator("#analyze").click()
    page.locator("#levels img").first.wait_for(timeout=90_000)


@pytest.mark.browser
def test_browser_upload_analyze_and_heatmaps(server, tmp_path):
    with browser_page(server) as (page, errors):
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        page.locator("#channels img").first.wait_for(timeout=30_000)
        assert "Egyptian cat" in page.locator("#top5").inner_text()
        assert page.locator("#shapes").inner_text().count("C") >= 5
        page.locator("#level label", has_text="C5").click()
        page.wait_for_function(
            "() => document.querySelector('#channels img') && "
            "!document.querySelector('#channels .pending, #channels .generating')", timeout=30_000)
        page.screenshot(path=str(tmp_path / "backbone.png"), full_page=True)
    assert not errors, errors


@pytest.mark.browser
def test_browser_a_tab_chosen_while_analyze_runs_shows_the_new_picture(server):
    """The tab on screen is part of the session that Analyze also writes: the learner's choice made
    while Analyze runs survives it, and the chosen tab then runs its neck on the picture."""
    with browser_page(server) as (page, errors):
        page.locator("#picture input[type=file]").set_input_files(str(SAMPLES / "coffee.png"))
        page.locator("#picture img").first.wait_for(timeout=20_000)
        page.locator("#analyze").click()
        page.locator("button[data-tab-id=fpn]").click()  # at once: Analyze is (almost always) still running
        expect(page.locator("#fpn-narration")).to_contain_text("Step 0 of", timeout=120_000)
        assert "espresso" in page.locator("#top5").inner_text()
    assert not errors, errors


def src(page: Any, selector: str) -> str | None:
    return page.locator(f"{selector} img").first.get_attribute("src")


@pytest.mark.browser
def test_browser_every_neck_tab_steps_and_the_aspp_picture_answers_clicks(server):
    with browser_page(server) as (page, errors):
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        for title in app.tab_groups():
            key = slug(title)
            page.locator(f"button[data-tab-id={key}]").click()
            page.locator(f"#{key}-graph img").first.wait_for(state="attached", timeout=120_000)
            narration = page.locator(f"#{key}-narration")
            expect(narration).to_contain_text("Step 0 of", timeout=60_000)
            first_graph, first_step = src(page, f"#{key}-graph"), src(page, f"#{key}-stepfig")
            for k in (1, 2, 3):
                page.locator(f"#{key}-next").click()
                expect(narration).to_contain_text(f"Step {k} of", timeout=30_000)
            page.wait_for_function(f"() => document.querySelector('#{key}-graph img').src !== '{first_graph}'"
                                   f" && document.querySelector('#{key}-stepfig img').src !== '{first_step}'",
                                   timeout=30_000)
            assert "Step 3 of" in narration.inner_text()
        page.locator("button[data-tab-id=aspp]").click()
        page.locator("#aspp-taps img").first.wait_for(state="attached", timeout=60_000)
        before = src(page, "#aspp-taps"), src(page, "#aspp-erf")
        picture = page.locator("#aspp-click img").first
        box = picture.bounding_box()
        picture.click(position={"x": box["width"] * 0.8, "y": box["height"] * 0.7})  # clear of the label
        page.wait_for_function(f"() => document.querySelector('#aspp-taps img').src !== '{before[0]}'"
                               f" && document.querySelector('#aspp-erf img').src !== '{before[1]}'", timeout=60_000)
        page.locator("button[data-tab-id=compare]").click()
        page.locator("#compare-run").click()
        page.locator("#compare-params img").first.wait_for(state="attached", timeout=300_000)
        table = page.locator("#compare-table").inner_text()
        assert all(spec.title in table for spec in NECKS.values())
        assert page.locator("#compare-csv a").count() >= 1
    assert not errors, errors


def edit_cell(page: Any, table: str, row: int, col: int, text: str) -> None:
    """Type into one cell of an interactive gr.Dataframe, as a learner does (double-click, type, Enter)."""
    page.locator(f'#{table} [data-testid="cell-{row}-{col}"]').dblclick()
    box = page.locator(f"#{table} input, #{table} textarea").first
    box.fill(text)
    box.press("Enter")


@pytest.mark.browser
def test_browser_playground_edit_a_cell_and_run(server, tmp_path):
    with browser_page(server) as (page, errors):
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        page.locator("button[data-tab-id=playground]").click()
        page.locator("#playground-preset-1").click()  # FPN in cells: cell 1 is sum(P5, P4) → P4
        expect(page.locator("#playground-notes")).to_contain_text("FPN's top-down path", timeout=10_000)
        page.locator("#playground-run").click()
        summary = page.locator("#playground-summary")
        expect(summary).to_contain_text("s1.sum_54_4", timeout=120_000)
        page.locator("#playground-graph img").first.wait_for(state="attached", timeout=60_000)
        first_graph = src(page, "#playground-graph")

        edit_cell(page, "playground-cells", 0, 1, "cell 3")  # a cell that runs later
        page.locator("#playground-validate").click()
        expect(page.locator("#playground-status")).to_contain_text("Cell 1, input A: cell 3 does not exist yet",
                                                                   timeout=30_000)
        edit_cell(page, "playground-cells", 0, 1, "P7")  # legal: P4 + ↑P7
        page.locator("#playground-run").click()
        expect(summary).to_contain_text("s1.sum_74_4", timeout=120_000)
        page.wait_for_function(f"() => document.querySelector('#playground-graph img').src !== '{first_graph}'",
                               timeout=60_000)
        expect(page.locator("#playground-narration")).to_contain_text("Step 0 of", timeout=30_000)
        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
    assert not errors, errors


@pytest.mark.browser
def test_browser_quiz_answer_and_lesson_export(server, tmp_path):
    """On the SPP tab: answer the quiz's first question (SPP-net's 1×1 bins of C5), then export the
    lesson and fetch the ZIP the page links to."""
    import io
    import zipfile

    with browser_page(server) as (page, errors):
        analyse_in_browser(page, str(SAMPLES / "chelsea.png"))
        page.locator("button[data-tab-id=spp]").click()
        expect(page.locator("#spp-narration")).to_contain_text("Step 0 of", timeout=120_000)
        expect(page.locator("#spp-quiz-question")).to_contain_text("bins1", timeout=30_000)
        page.locator("#spp-quiz-answer textarea, #spp-quiz-answer input").first.fill("320 x 1 x 1")
        page.locator("#spp-quiz-check").click()
        expect(page.locator("#spp-quiz-feedback")).to_contain_text("Right: 320×1×1", timeout=30_000)
        expect(page.locator("#spp-quiz-score")).to_contain_text("1 of 1")
        expect(page.locator("#spp-narration")).to_contain_text("Step 1 of", timeout=30_000)  # revealed
        expect(page.locator("#spp-quiz-question")).to_contain_text("bins2", timeout=30_000)
        page.locator("#spp-quiz-answer textarea, #spp-quiz-answer input").first.fill("320,4,4")
        page.locator("#spp-quiz-check").click()
        expect(page.locator("#spp-quiz-feedback")).to_contain_text("fixed 2×2 grid", timeout=30_000)
        expect(page.locator("#spp-quiz-score")).to_contain_text("1 of 2")
        expect(page.locator("#spp-export-file")).to_be_hidden()  # no empty box before an export
        page.locator("#spp-export").click()
        link = page.locator("#spp-export-file a").first
        link.wait_for(timeout=600_000)
        page.screenshot(path=str(tmp_path / "quiz-export.png"), full_page=True)
        assert "necklab-spp-lesson.zip" in page.locator("#spp-export-file").inner_text().replace("\n", "")
        data = page.request.get(link.get_attribute("href")).body()
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert "lesson.md" in z.namelist() and "figures/spp-bins.png" in z.namelist()
    assert not errors, errors


@pytest.mark.slow
def test_every_response_carries_the_security_headers(server):
    """The page, its scripts, its configuration, the API and a 404 all carry the CSP, DENY and nosniff."""
    with httpx.Client(base_url=server, timeout=30, trust_env=False) as http:
        page = http.get("/")
        script = re.search(r'<script type="module"[^>]* src="\.?/?([^"]+\.js)"', page.text)
        assert page.status_code == 200 and script, page.text[:500]
        responses = [page, http.get(script.group(1)), http.get("/config"), http.get("/gradio_api/info"),
                     http.get("/no-such-page")]
    for response in responses:
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (str(response.url), name, response.headers.get(name))


@pytest.mark.browser
def test_browser_the_page_works_under_its_content_security_policy(server):
    """Gradio's front end loads, uploads, analyses and shows figures with no CSP violation (each is a
    console error); and the policy is in force: a picture from another origin is refused. That
    origin is 127.0.0.2 (loopback), so nothing would leave the machine even if it were not."""
    with browser_page(server) as (page, errors):
        analyse_in_browser(page, str(SAMPLES / "coffee.png"))
        assert "espresso" in page.locator("#top5").inner_text()
        page.locator("button[data-tab-id=playground]").click()
        page.locator("#playground-validate").click()
        expect(page.locator("#playground-status")).to_contain_text("Valid", timeout=30_000)
        assert not errors, errors
        blocked = page.evaluate("""() => new Promise(done => {
            document.addEventListener('securitypolicyviolation', e => done(e.violatedDirective), {once: true});
            const img = new Image(); img.src = 'http://127.0.0.2:9/p.png'; document.body.appendChild(img);
        })""")
    assert blocked == "img-src"
