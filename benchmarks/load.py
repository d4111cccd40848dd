"""Load test: N concurrent students (gradio_client sessions), each running Analyze and then one neck,
over and over; prints success %, latency percentiles and the server's memory. Not part of the tests.

    python benchmarks/load.py                                   # starts the app on a free port itself
    python benchmarks/load.py --url http://127.0.0.1:8080/ --pids 1234,1235   # a running server
    python benchmarks/load.py --scenario class [--hostile]      # a class following one lesson (below)

Scenario *class*: 30 students on one process follow a lesson script: Analyze (half the class on one
sample picture, half on pictures of their own), then two neck tabs, each run and stepped 10 times,
2–4 s of thinking before every action; 3 real browsers (chromium) do the same through the page.
`--hostile` adds a script that keeps its session's line full of Analyze calls the whole time.
Prints the success rate, p50 / p95 per action, peak RSS and RSS 3 minutes after every session closed.

One "analysis" is what a student does: Analyze a sample picture, then run one neck tab (necks rotate
across clients and rounds). RSS is the resident memory of the server process(es) and their children,
sampled before any request, after a warm-up (every neck once, one client) and at the end.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # else gradio_client's headers look up huggingface.co
os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")

from gradio_client import Client, handle_file  # noqa: E402

from app import tab_groups  # noqa: E402
from necklab.ui.neck_tab import slug  # noqa: E402

SAMPLES = sorted(p for p in (ROOT / "assets" / "samples").iterdir() if p.suffix.lower() in (".png", ".jpg"))


def tabs() -> list[tuple[str, str, list]]:
    """(api name, neck title, arguments as the tab's widgets send them) for every neck: a tab's
    run endpoint takes the chosen neck and the controls of all its necks."""
    out = []
    for title, specs in tab_groups().items():
        key = slug(title)
        values = [str(c.default) if c.kind == "choice" else ", ".join(map(str, c.default)) if c.kind == "ints"
                  else c.default for s in specs for c in s.controls]
        out += [(f"/{key.replace('-', '_')}_run", spec.title, values) for spec in specs]
    return out


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"analyze": [], "neck": []})
    started: dict[str, list[float]] = field(default_factory=dict)  # each call's start (monotonic), as latencies
    refused: int = 0  # the hostile script's calls the server turned away
    failures: list[str] = field(default_factory=list)
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def timed(self, kind: str, call: Callable[[], Any]) -> Any:
        start = time.monotonic()
        out = call()
        with self.lock:
            self.latencies.setdefault(kind, []).append(time.monotonic() - start)
            self.started.setdefault(kind, []).append(start)
        return out

    def fail(self, text: str) -> None:
        with self.lock:
            self.failures.append(text[:300])


def student(url: str, index: int, rounds: int, deadline: float, results: Results) -> None:
    """One browser session: Analyze, then a neck, `rounds` times (stops at the deadline)."""
    necks = tabs()
    client = connect(url)
    for k in range(rounds):
        if time.monotonic() > deadline:
            return
        picture = SAMPLES[(index + k) % len(SAMPLES)]
        api_name, title, values = necks[(index * 3 + k) % len(necks)]
        try:
            status = results.timed("analyze", lambda: client.predict(handle_file(str(picture)), "cpu", "C3",
                                                                     api_name="/analyze")[-1])
            assert "Analysed at" in status, status
            summary = results.timed("neck", lambda: client.predict(title, *values, api_name=api_name)[0])
            assert title in summary, summary[:200]
            with results.lock:
                results.done += 1
        except Exception as e:  # noqa: BLE001 — a failure is a figure of the test, not its end
            with results.lock:
                results.failures.append(f"client {index} round {k} ({title}): {type(e).__name__}: {e}"[:300])


def rss_mib(pids: Sequence[int]) -> float:
    """Resident memory of the processes and all their descendants, in MiB."""
    seen, todo, total = set(), list(pids), 0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def sample_rss(pids: Sequence[int], running: Sequence, every: float = 5.0) -> list[float]:
    """Server RSS every few seconds while the students run: a plateau is state, a slope a leak."""
    samples = []
    while pids and not all(f.done() for f in running):
        samples.append(rss_mib(pids))
        time.sleep(every)
    return samples


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    wait_until_up(url, proc)
    return proc, url


def stop_app(proc: subprocess.Popen | None) -> None:
    if proc is not None:
        proc.terminate()
        proc.wait(30)


def wait_until_up(url: str, proc: subprocess.Popen | None = None, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the app exited with code {proc.returncode}")
        try:
            if httpx.get(url, timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def print_latencies(results: Results) -> None:
    for kind, values in results.latencies.items():
        if values:
            print(f"{kind:16s} p50 {percentile(values, 50):6.2f} s   p95 {percentile(values, 95):6.2f} s   "
                  f"({len(values)} calls)")


def print_over_time(results: Results, kind: str, start: float, window: int = 30) -> None:
    """p50 / p95 of the `kind` calls started in each `window` seconds of the run: when it was slow."""
    starts, seconds = results.started.get(kind, []), results.latencies.get(kind, [])
    if not starts:
        return
    print(f"{kind} by start time:")
    for begin in range(0, int(max(starts) - start) + 1, window):
        values = [s for t, s in zip(starts, seconds) if begin <= t - start < begin + window]
        if values:
            print(f"  {begin:4d}-{begin + window:4d} s  p50 {percentile(values, 50):6.2f} s   "
                  f"p95 {percentile(values, 95):6.2f} s   ({len(values)} calls)")


def print_failures(results: Results) -> None:
    for failure in results.failures[:10]:
        print("  FAILED", failure)


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


CLASS_STEPS = 10


def own_pictures(count: int, folder: Path) -> list[Path]:
    """`count` distinct 512-px pictures (crops of the samples, each shifted and tinted its own way):
    students who bring their own photos share no cached result."""
    from PIL import Image, ImageEnhance

    out = []
    for i in range(count):
        with Image.open(SAMPLES[i % len(SAMPLES)]) as im:
            rgb = im.convert("RGB")
        w, h = rgb.size
        side = min(w, h) * 3 // 4
        x, y = (i * 37) % (w - side + 1), (i * 53) % (h - side + 1)
        crop = rgb.crop((x, y, x + side, y + side)).resize((512, 512))
        crop = ImageEnhance.Color(crop).enhance(0.6 + 0.05 * i)
        path = folder / f"own-{i:02d}.png"
        crop.save(path)
        out.append(path)
    return out


def lesson_tabs(index: int) -> list[tuple[str, str, list]]:
    """The two neck tabs a student's lesson visits (the class spreads over every neck)."""
    necks = tabs()
    return [necks[index % len(necks)], necks[(index + 1) % len(necks)]]


def last_steps() -> dict[str, int]:
    """Each neck's last step at its tab's default settings (a student steps 1, 2, … and starts over
    after the last), from one analysis of a small picture here in the benchmark's own process."""
    from necklab.graph.steps import Steps
    from necklab.lab.analysis import analyse
    from necklab.lab.imaging import decode
    from necklab.models.registry import NECKS

    picture = decode(SAMPLES[1])
    return {spec.title: Steps.of(analyse(picture, name).topology).last for name, spec in NECKS.items()}


LAST_STEPS: dict[str, int] = {}


def think(rng: random.Random) -> None:
    time.sleep(rng.uniform(2.0, 4.0))


def connect(url: str, attempts: int = 5) -> Client:
    """A gradio_client session, trying again a few seconds later (as a student reloads the page)
    when the page's configuration (1 MB) takes longer than the client's 5 s: 33 students and three
    chromiums starting at once on two cores. `ssl_verify=False`: the URLs here are plain HTTP, and
    with verification on, gradio_client's every request builds an SSL context from the CA bundle
    (~23 ms of CPU each): in a class run the 33 clients spent more CPU on that than the server
    spent on the whole lesson, on the same two cores."""
    for attempt in range(attempts):
        try:
            return Client(url, verbose=False, analytics_enabled=False, download_files=False, ssl_verify=False)
        except httpx.TimeoutException:
            if attempt == attempts - 1:
                raise
            time.sleep(random.uniform(1, 3))
    raise AssertionError("unreachable")


def class_student(url: str, index: int, picture: Path, results: Results) -> None:
    """A gradio_client student: Analyze, then two neck tabs, each run and stepped CLASS_STEPS times."""
    rng = random.Random(index)
    client = None
    try:
        client = connect(url)
        think(rng)
        status = results.timed("analyze", lambda: client.predict(handle_file(str(picture)), "cpu", "C3",
                                                                 api_name="/analyze")[-1])
        assert "Analysed at" in status, status
        for api_name, title, values in lesson_tabs(index):
            think(rng)
            summary = results.timed("tab", lambda: client.predict(title, *values, api_name=api_name)[0])
            assert title in summary, summary[:200]
            for j in range(CLASS_STEPS):
                k = 1 + j % LAST_STEPS[title]
                think(rng)
                narration = results.timed("step", lambda: client.predict(k, api_name=api_name[:-4] + "_step")[-1])
                assert narration, "an empty step"
        with results.lock:
            results.done += 1
    except Exception as e:  # noqa: BLE001 — a failure is a figure of the run, not its end
        results.fail(f"student {index}: {type(e).__name__}: {e}")
    finally:
        if client is not None:
            client.close()


# A Markdown's own text: the block's innerText also holds Gradio's status line ("0.4s") while an
# event runs, and a wait on it ended when the event started, not when its answer showed.
WORDS = "[data-testid=markdown]"
WORDS_OF_ID = f"(document.querySelector(`#${{id}} {WORDS}`)?.innerText ?? '')"  # page code: element `id`'s words


def browser_student(url: str, index: int, picture: Path, results: Results) -> None:
    """A student in chromium doing the same through the page: every action waits for what it shows."""
    from playwright.sync_api import sync_playwright

    rng = random.Random(1000 + index)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(url)
            page.locator("#picture input[type=file]").set_input_files(str(picture))
            page.locator("#picture img").first.wait_for(timeout=60_000)
            think(rng)
            results.timed("browser analyze", lambda: (page.locator("#analyze").click(),
                                                      page.locator("#levels img").first.wait_for(timeout=600_000)))
            for api_name, _, _ in lesson_tabs(index):
                key = api_name[1:-4].replace("_", "-")
                tab_title = next(t for t in tab_groups() if slug(t) == key)
                title = tab_groups()[tab_title][0].title  # the neck a tab shows first
                think(rng)
                narration = page.locator(f"#{key}-narration {WORDS}")
                # Shown, a tab runs that neck on the session's picture by itself (a Run click as well
                # would run it twice; the second answer, coming after the student's first steps under
                # load, took the step back to 0). A tab shown before keeps its step.
                results.timed("browser tab", lambda: (
                    page.locator("button[role=tab]", has_text=tab_title).first.click(),
                    page.wait_for_function(f"id => {WORDS_OF_ID}.trim()",
                                           arg=f"{key}-narration", timeout=600_000)))
                k, forward = int(float(page.locator(f"#{key}-step input[type=number]").first.input_value())), True
                for _ in range(CLASS_STEPS):  # Next to the last step, then Prev back, and so on
                    forward = (forward or k == 0) and k < LAST_STEPS[title]
                    k += 1 if forward else -1
                    think(rng)
                    before = narration.inner_text()
                    try:
                        results.timed("browser step", lambda: (
                            page.locator(f"#{key}-{'next' if forward else 'prev'}").click(),
                            page.wait_for_function(f"([id, text]) => {WORDS_OF_ID} !== text",
                                                   arg=[f"{key}-narration", before], timeout=120_000)))
                    except Exception as e:  # say where the page was
                        slider = page.locator(f"#{key}-step input[type=number]").first.input_value()
                        raise AssertionError(f"{title} step {k} ({'next' if forward else 'prev'}): slider at {slider}, "
                                             f"narration {narration.inner_text()[:60]!r}") from e
            browser.close()
        with results.lock:
            results.done += 1
    except Exception as e:  # noqa: BLE001
        results.fail(f"browser {index}: {type(e).__name__}: {e}")


def hostile(url: str, stop: threading.Event, results: Results) -> None:
    """A script keeping its session's line full of Analyze calls on a large picture until told to stop."""
    client = connect(url)
    picture = handle_file(str(max(SAMPLES, key=lambda p: p.stat().st_size)))
    jobs: list = []
    while not stop.is_set():
        jobs = [j for j in jobs if not j.done()]
        while len(jobs) < 10:
            jobs.append(client.submit(picture, "cpu", "C3", api_name="/analyze"))
        for job in jobs:
            if job.done():
                try:
                    job.result(timeout=0)
                except Exception:  # noqa: BLE001 — turned away: what the server should do
                    with results.lock:
                        results.refused += 1
        time.sleep(0.2)
    client.close()


def class_scenario(url: str, pids: Sequence[int], students: int, browsers: int, with_hostile: bool,
                   rest: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        half = students // 2
        pictures = [SAMPLES[0]] * half + own_pictures(students - half + browsers, Path(folder))
        rss_start = rss_mib(pids)
        LAST_STEPS.update(last_steps())
        warm = Results()
        for k in range(len(tabs())):  # warm-up: every neck built once
            student(url, k, 1, time.monotonic() + 600, warm)
        rss_warm = rss_mib(pids)
        results, stop = Results(), threading.Event()
        start = time.monotonic()
        with ThreadPoolExecutor(students + browsers + 2) as pool:
            flood = pool.submit(hostile, url, stop, results) if with_hostile else None
            running = [pool.submit(class_student, url, i, pictures[i], results) for i in range(students)]
            running += [pool.submit(browser_student, url, i, pictures[students + i], results) for i in range(browsers)]
            samples = pool.submit(sample_rss, pids, running, 2.0)
            for finished, job in enumerate(as_completed(running), 1):
                job.result()
                print(f"  {finished}/{len(running)} students done at {time.monotonic() - start:.0f} s",
                      file=sys.stderr, flush=True)
            stop.set()
            if flood is not None and flood.exception() is not None:  # the figures still stand; say so
                results.fail(f"hostile script: {type(flood.exception()).__name__}: {flood.exception()}")
        wall = time.monotonic() - start
        peak = max(samples.result() or [rss_mib(pids)])
        print(f"{url}  class: {students} clients + {browsers} browsers, {CLASS_STEPS} steps × 2 tabs each, "
              f"hostile script {'on' if with_hostile else 'off'}, {wall:.0f} s")
        print(f"succeeded {results.done}/{students + browsers} = {100 * results.done / (students + browsers):.1f} %  "
              f"(failures {len(results.failures)}; hostile calls refused {results.refused})")
        print_latencies(results)
        print_over_time(results, "step", start)
        print_failures(results)
        if pids:
            print(f"server RSS: start {rss_start:.0f} MiB, warm {rss_warm:.0f} MiB, peak {peak:.0f} MiB", flush=True)
            time.sleep(rest)  # every session has closed (the clients and the pages): what comes back?
            rss_rest = rss_mib(pids)
            print(f"server RSS {rest:.0f} s after every session closed: {rss_rest:.0f} MiB "
                  f"({100 * (rss_rest - rss_warm) / rss_warm:+.1f} % of warm)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running NeckLab (default: start one on a free port)")
    parser.add_argument("--pids", default="", help="comma-separated server PIDs for RSS (with --url)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=25, help="analyses per client")
    parser.add_argument("--max-seconds", type=float, default=1800, help="no new analysis starts after this")
    parser.add_argument("--scenario", choices=("mixed", "class"), default="mixed")
    parser.add_argument("--students", type=int, default=30, help="class: gradio_client students")
    parser.add_argument("--browsers", type=int, default=3, help="class: chromium students")
    parser.add_argument("--hostile", action="store_true", help="class: a script flooding the queue throughout")
    parser.add_argument("--rest", type=float, default=180, help="class: seconds to wait before the last RSS")
    args = parser.parse_args()

    proc = None
    if args.url:
        url, pids = args.url, [int(p) for p in args.pids.split(",") if p]
        wait_until_up(url)
    else:
        proc, url = start_app()
        pids = [proc.pid]
    if args.scenario == "class":
        try:
            class_scenario(url, pids, args.students, args.browsers, args.hostile, args.rest)
        finally:
            stop_app(proc)
        return
    try:
        rss_start = rss_mib(pids)
        warm = Results()
        for k in range(len(tabs())):  # warm-up: every neck built once, every sample decoded once
            student(url, k, 1, time.monotonic() + 600, warm)
        rss_warm = rss_mib(pids)
        results = Results()
        start = time.monotonic()
        with ThreadPoolExecutor(args.clients + 1) as pool:
            students = [pool.submit(student, url, i, args.rounds, start + args.max_seconds, results)
                        for i in range(args.clients)]
            samples = pool.submit(sample_rss, pids, students)
        wall = time.monotonic() - start
        rss_end = rss_mib(pids)
    finally:
        stop_app(proc)

    planned = args.clients * args.rounds
    print(f"{url}  {args.clients} clients × {args.rounds} analyses (Analyze + one neck), {len(pids)} server "
          f"process(es), {wall:.0f} s")
    print(f"succeeded {results.done}/{planned} = {100 * results.done / planned:.1f} %  "
          f"(warm-up {warm.done}/{len(tabs())}, failures {len(results.failures)})")
    print_latencies(results)
    if pids:
        print(f"server RSS: start {rss_start:.0f} MiB, after warm-up {rss_warm:.0f} MiB, end {rss_end:.0f} MiB "
              f"(growth after warm-up {100 * (rss_end - rss_warm) / rss_warm:+.1f} %)")
        trend = samples.result()
        if trend:
            print("server RSS at each tenth of the run (MiB):",
                  " ".join(f"{trend[min(len(trend) - 1, k * len(trend) // 10)]:.0f}" for k in range(11)))
    print_failures(results)


if __name__ == "__main__":
    main()
