"""Screenshot the app after analysing a sample picture, one PNG per tab (for looking, not testing).

    python scripts/screenshot.py [--picture assets/samples/hubble_deep_field.jpg] [--out out/screens]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from tests.test_served import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--picture", default=str(ROOT / "assets/samples/chelsea.png"))
    parser.add_argument("--out", default=str(ROOT / "out/screens"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    port = free_port()
    demo = app.build_app().queue()
    demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_settings("127.0.0.1", port))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        page.on("console", lambda m: print("console:", m.text) if m.type == "error" else None)
        page.goto(f"http://127.0.0.1:{port}/")
        page.locator("#picture input[type=file]").set_input_files(args.picture)
        page.locator("#picture img").first.wait_for(timeout=20_000)
        page.locator("#analyze").click()
        page.locator("#levels img").first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        for tab in page.locator("button[role=tab]").all():
            name = tab.inner_text().strip().lower().replace(" ", "_")
            tab.click()
            page.wait_for_timeout(1500)
            page.screenshot(path=str(out / f"{name}.png"), full_page=True)
            print("wrote", out / f"{name}.png")
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
