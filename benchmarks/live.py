"""Frames per second of the Live tab, per neck, on 640×480 camera frames scaled to 320 px (as the
tab does): the whole frame (backbone + neck + drawing + JPEG, what the stream handler does) and the
drawing alone (maps → image → JPEG); the backbone alone above them.
Prints a table; not part of the test suite. Medians and bests over --frames frames: on a shared
machine the best is what the code can do, the median what the machine gave it.

    python benchmarks/live.py [--frames 20] [--threads 2] [--necks fpn bifpn]
    python benchmarks/live.py --served [--seconds 10] [--necks fpn bifpn]

`--served` measures what a browser sees instead: the app served on 127.0.0.1, chromium's fake
camera streaming into the Live tab, and the maps counted as they change in the page, per neck
(needs Debian's chromium and pip playwright, as the browser tests do).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from necklab.lab.analysis import backbone_on  # noqa: E402
from necklab.lab.live import frame_maps, frame_tensor  # noqa: E402
from necklab.models.backbone import normalise  # noqa: E402
from necklab.models.registry import NECKS  # noqa: E402
from necklab.ui.live_tab import data_url  # noqa: E402
from necklab.viz.live import live_image  # noqa: E402

T = TypeVar("T")


def frames(n: int) -> list[np.ndarray]:
    """n different 640×480 frames: a sample picture, shifted a little more each frame."""
    picture = np.asarray(Image.open(ROOT / "assets/samples/chelsea.png").convert("RGB").resize((640, 480)))
    return [np.roll(picture, 13 * i, axis=1) for i in range(n)]


def timed(run: Callable[[T], object], inputs: list[T]) -> tuple[float, float]:
    """(median, best) seconds of `run` over the inputs, after one warm-up call."""
    run(inputs[0])
    times = []
    for x in inputs:
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def load_average() -> float:
    """The machine's 1-minute load average (other processes move the figures), NaN where unknown."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def fps(seconds: float) -> str:
    return f"{1 / seconds:6.1f}"


COUNT_CHANGES = """(seconds) => new Promise(done => {
    const img = document.querySelector('#live-maps img');
    let changes = 0;
    const seen = new MutationObserver(() => { changes += 1; });
    seen.observe(img, {attributes: true, attributeFilter: ['src']});
    setTimeout(() => { seen.disconnect(); done(changes); }, seconds * 1000);
})"""


def served(necks: list[str], seconds: float) -> None:
    """Maps shown per second in a browser, per neck, with chromium's fake camera."""
    from playwright.sync_api import sync_playwright

    import app
    from necklab.ui.fair_queue import serve_fairly
    from necklab.ui.live_tab import STREAM_EVERY
    from tests.test_served import CHROMIUM, CHROMIUM_ARGS, FAKE_CAMERA, free_port

    for name in necks:  # build and warm the models the server will use (it runs in this process)
        frame_maps(frames(1)[0], name)
    port = free_port()
    demo = serve_fairly(app.build_app())
    demo.launch(prevent_thread_lock=True, quiet=True, **app.launch_settings("127.0.0.1", port))
    print(f"served on 127.0.0.1, chromium's fake camera, a frame sent every {STREAM_EVERY} s at most; "
          f"maps shown per second over {seconds:.0f} s; load average {load_average():.1f} at start")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *FAKE_CAMERA])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"http://127.0.0.1:{port}/")
            page.locator("button[role=tab][data-tab-id=live]").click()
            page.locator("#live-camera").get_by_text("Click to Access Webcam").click()
            for name in necks:
                page.locator("#live-neck input").click()
                page.get_by_role("option", name=NECKS[name].title, exact=True).click()
                page.locator("#live-camera button.capture-button").click()  # Record
                page.wait_for_function("() => document.querySelector('#live-status').innerText.includes("
                                       f"{NECKS[name].title!r})", timeout=120_000)
                shown = page.evaluate(COUNT_CHANGES, seconds)
                status = page.locator("#live-status p").last.inner_text()  # the words, not the time left
                page.locator("#live-camera button.capture-button").click()  # Stop
                print(f"{name:10} {shown / seconds:6.1f} maps/s   last frame: {status.strip()}")
            browser.close()
    finally:
        demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames timed per neck")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--necks", nargs="*", default=list(NECKS), choices=list(NECKS))
    parser.add_argument("--served", action="store_true", help="count the maps a browser is shown instead")
    parser.add_argument("--seconds", type=float, default=10.0, help="with --served: seconds counted per neck")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.served:
        served(args.necks, args.seconds)
        return
    inputs = frames(args.frames)
    print(f"320×240 frames (from 640×480), cpu, {args.threads} threads, {os.cpu_count()} cores, "
          f"load average {load_average():.1f} at start; medians / bests over {args.frames} frames")

    def backbone(frame: np.ndarray) -> object:
        with torch.inference_mode():
            return backbone_on("cpu").forward_features(normalise(frame_tensor(frame)))

    median, best = timed(backbone, inputs)
    print(f"backbone alone: {median * 1000:.0f} / {best * 1000:.0f} ms")
    print(f"\n{'neck':10} {'frame fps':>10} {'best':>6} {'ms':>5} {'backbone ms':>12} {'neck ms':>8} "
          f"{'draw fps':>9} {'best':>6} {'ms':>5}")
    for name in args.necks:
        seconds: dict[str, list[float]] = {"backbone": [], "neck": []}

        def whole(frame: np.ndarray, name: str = name) -> object:
            maps = frame_maps(frame, name)
            for part in seconds:
                seconds[part].append(maps.seconds[part])
            return data_url(live_image(maps))

        median, best = timed(whole, inputs)
        maps = [frame_maps(f, name) for f in inputs[:5]]
        drawn_median, drawn_best = timed(lambda m: data_url(live_image(m)), [maps[i % 5] for i in range(args.frames)])
        parts = {part: statistics.median(values) * 1000 for part, values in seconds.items()}
        print(f"{name:10} {fps(median):>10} {fps(best):>6} {median * 1000:5.0f} {parts['backbone']:12.0f} "
              f"{parts['neck']:8.0f} {fps(drawn_median):>9} {fps(drawn_best):>6} {drawn_median * 1000:5.0f}")


if __name__ == "__main__":
    main()
