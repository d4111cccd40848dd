"""Screenshot the app after analysing a sample picture, one PNG per tab (for looking, not testing).

    python scripts/screenshot.py [--picture assets/samples/hubble_deep_field.jpg] [--out out/screens] [--locale zh-CN]
                                 [--size 1366x768] [--tabs pafpn,aspp,nas-fpn]

Chinese pages need a system CJK font for chromium (Debian: fonts-noto-cjk).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from necklab.ui.fair_queue import serve_fairly  # noqa: E402
from necklab.ui.neck_tab import slug  # noqa: E402
from tests.test_served import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402

BUSY = "() => document.querySelectorAll('.progress-text, .eta-bar, .pending').length === 0"


def settle(page) -> None:
    """Wait until no component shows progress, twice in a row (chained events start one by one)."""
    for _ in range(2):
        page.wait_for_timeout(800)
        page.wait_for_function(BUSY, timeout=180_000)


def analyse_in(page, port: int, picture: str) -> None:
    """Open the app served on `port`, upload `picture`, press Analyze and wait until all is drawn."""
    page.goto(f"http://127.0.0.1:{port}/")
    page.locator("#picture input[type=file]").set_input_files(picture)
    page.locator("#picture img").first.wait_for(timeout=20_000)
    page.locator("#analyze").click()
    page.locator("#levels img").first.wait_for(timeout=120_000)
    settle(page)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--picture", default=str(ROOT / "assets/samples/chelsea.png"))
    parser.add_argument("--out", default=str(ROOT / "out/screens"))
    parser.add_argument("--locale", default="en-US", help="the browser's language, e.g. zh-CN")
    parser.add_argument("--size", default="1500x1000", help="the browser window, WIDTHxHEIGHT")
    parser.add_argument("--tabs", default="", help="only these tab ids, comma-separated (default: every tab)")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    only = {tab for tab in args.tabs.split(",") if tab}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    port = free_port()
    demo = serve_fairly(app.build_app())  # as the app serves it
    demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_settings("127.0.0.1", port))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height}, locale=args.locale)
        page.on("console", lambda m: print("console:", m.text) if m.type == "error" else None)
        analyse_in(page, port, args.picture)
        for tab in page.locator("button[role=tab]").all():
            title = tab.get_attribute("data-tab-id")  # the tab's id: its label follows the language
            if only and title not in only:
                continue
            tab.click()
            if title == "compare":
                page.locator("#compare-run").click()
                page.locator("#compare-params img").first.wait_for(state="attached", timeout=600_000)
            elif title == "playground":  # runs on its button, like Compare
                page.locator("#playground-run").click()
                page.locator("#playground-graph img").first.wait_for(state="attached", timeout=120_000)
            elif title == "live":  # a camera tab: shown as it opens (tests/test_live_served.py drives it)
                page.locator("#live-maps").first.wait_for(state="attached", timeout=60_000)
            elif title != "backbone":
                page.locator(f"#{slug(title)}-graph img").first.wait_for(state="attached", timeout=120_000)
                page.locator(f"#{slug(title)}-lesson-mode button").first.click()  # show the lesson text too
            settle(page)
            path = out / f"{slug(title)}.png"
            if title not in ("backbone", "compare", "playground", "live"):  # the step view as the window shows it
                page.evaluate(f"() => document.querySelector('#{slug(title)}-prev').scrollIntoView()")
                page.wait_for_timeout(500)
                page.screenshot(path=str(out / f"{slug(title)}-window.png"))
            # Images load lazily: make the viewport as tall as the page so every figure is drawn.
            full = page.evaluate("() => document.documentElement.scrollHeight")
            page.set_viewport_size({"width": width, "height": full})
            page.wait_for_timeout(1000)
            page.screenshot(path=str(path), full_page=True)
            page.set_viewport_size({"width": width, "height": height})
            print("wrote", path)
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
