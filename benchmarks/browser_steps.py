"""How long a neck tab takes to show in chromium (click its button → its neck run on the analysed
picture, the step's figure and graph loaded), and a step (click Next → the next ones loaded), per
tab (shown from what the server sent with the step before, `steps_around`, without waiting for it);
and how much of the tab's time the server worked (its queued events, summed): the rest is the page's.
Prints a table; not part of the test suite (timings belong here, not in tests).

    python benchmarks/browser_steps.py [--picture assets/samples/astronaut.png] [--tabs fpn,nas-fpn,bifpn]
                                       [--steps 6]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import app  # noqa: E402
from necklab.ui.fair_queue import FairQueue, serve_fairly  # noqa: E402
from scripts.screenshot import analyse_in, settle  # noqa: E402
from tests.test_served import CHROMIUM, CHROMIUM_ARGS, free_port  # noqa: E402

# Clicks `button`, then resolves once both of the tab's step images show a new (not `before`), fully
# loaded picture; returns the ms taken. A tab's button shows its step images; Next, the next ones.
SHOWN = """async ([key, button, before]) => {
  const start = performance.now();
  document.querySelector(button).click();
  while (true) {
    const imgs = [`#${key}-stepfig img`, `#${key}-graph img`].map(s => document.querySelector(s));
    if (imgs.every((img, i) => img && img.src !== before[i] && img.complete && img.naturalWidth > 0)) {
      return performance.now() - start;
    }
    if (performance.now() - start > 180000) throw new Error(`${key}: no new step images after 3 min`);
    await new Promise(r => requestAnimationFrame(r));
  }
}"""
SOURCES = "(key) => [`#${key}-stepfig img`, `#${key}-graph img`].map(s => document.querySelector(s)?.src)"


def time_the_server() -> list[float]:
    """Make the queue add each event's time on the server to the list returned."""
    worked: list[float] = []
    process = FairQueue.process_events

    async def timed(self: FairQueue, *args: Any) -> None:
        start = time.perf_counter()
        try:
            await process(self, *args)
        finally:
            worked.append(time.perf_counter() - start)

    FairQueue.process_events = timed  # type: ignore[method-assign]
    return worked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default=str(ROOT / "assets/samples/astronaut.png"))
    parser.add_argument("--tabs", default="fpn,nas-fpn,bifpn")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--size", default="1366x768")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    from playwright.sync_api import sync_playwright

    worked = time_the_server()
    port = free_port()
    demo = serve_fairly(app.build_app())
    demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_settings("127.0.0.1", port))
    print(f"{'tab':10} {'tab shown s':>11} {'its server s':>12} {'step median s':>13} {'step max s':>10}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        analyse_in(page, port, args.picture)
        for key in args.tabs.split(","):
            worked.clear()
            opened = page.evaluate(SHOWN, [key, f"button[role=tab][data-tab-id='{key}']",
                                           page.evaluate(SOURCES, key)]) / 1000
            server = sum(worked)  # the events that showed the tab (what follows may not have begun)
            settle(page)
            times = []
            last = page.evaluate("(key) => Number(document.querySelector(`#${key}-step input[type=range]`).max)", key)
            for _ in range(min(args.steps, last)):  # Next past the last step changes nothing
                times.append(page.evaluate(SHOWN, [key, f"#{key}-next", page.evaluate(SOURCES, key)]) / 1000)
                settle(page)  # the lesson, the quiz: the next click starts on a quiet page
            step = f"{statistics.median(times):13.3f} {max(times):10.3f}"
            print(f"{key:10} {opened:11.2f} {server:12.2f} {step}", flush=True)
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
