"""How long a step takes to show in chromium (click Next → the step's figure and graph loaded), per
neck tab, after a run, and how much of it the server worked (its queued events, summed): the rest is
the page's. Prints a table; not part of the test suite (timings belong here, not in tests).

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

# Resolves once both of the tab's step images show a new, fully loaded picture; returns the ms taken.
CHANGED = """async ([key, before]) => {
  const imgs = () => [document.querySelector(`#${key}-stepfig img`), document.querySelector(`#${key}-graph img`)];
  const start = performance.now();
  document.querySelector(`#${key}-next`).click();
  while (true) {
    const [fig, graph] = imgs();
    if (fig && graph && fig.src !== before[0] && graph.src !== before[1] && fig.complete && graph.complete
        && fig.naturalWidth > 0) {
      return performance.now() - start;
    }
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
    print(f"{'tab':10} {'step median s':>13} {'step max s':>10} {'server median s':>15}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        analyse_in(page, port, args.picture)
        for key in args.tabs.split(","):
            page.locator(f"button[role=tab][data-tab-id='{key}']").click()
            page.locator(f"#{key}-graph img").first.wait_for(state="attached", timeout=120_000)
            settle(page)
            times, server = [], []
            for _ in range(args.steps):
                before = page.evaluate(SOURCES, key)
                worked.clear()
                times.append(page.evaluate(CHANGED, [key, before]) / 1000)
                server.append(sum(worked))  # the step's own event (what follows it may not have begun)
                settle(page)  # the lesson, the quiz: the next click starts on a quiet page
            print(f"{key:10} {statistics.median(times):13.3f} {max(times):10.3f} {statistics.median(server):15.3f}",
                  flush=True)
        browser.close()
    demo.close()


if __name__ == "__main__":
    main()
