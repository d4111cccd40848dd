"""Load test: N concurrent students (gradio_client sessions), each running Analyze and then one neck,
over and over; prints success %, latency percentiles and the server's memory. Not part of the tests.

    python benchmarks/load.py                                   # starts the app on a free port itself
    python benchmarks/load.py --url http://127.0.0.1:8080/ --pids 1234,1235   # a running server

One "analysis" is what a student does: Analyze a sample picture, then run one neck tab (necks rotate
across clients and rounds). RSS is the resident memory of the server process(es) and their children,
sampled before any request, after a warm-up (every neck once, one client) and at the end.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

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
    failures: list[str] = field(default_factory=list)
    done: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)


def student(url: str, index: int, rounds: int, deadline: float, results: Results) -> None:
    """One browser session: Analyze, then a neck, `rounds` times (stops at the deadline)."""
    necks = tabs()
    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    for k in range(rounds):
        if time.monotonic() > deadline:
            return
        picture = SAMPLES[(index + k) % len(SAMPLES)]
        api_name, title, values = necks[(index * 3 + k) % len(necks)]
        try:
            start = time.monotonic()
            top5, *_, status = client.predict(handle_file(str(picture)), "cpu", "C3", api_name="/analyze")
            results.add("analyze", time.monotonic() - start)
            assert "Analysed at" in status, status
            start = time.monotonic()
            summary = client.predict(title, *values, api_name=api_name)[0]
            results.add("neck", time.monotonic() - start)
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


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running NeckLab (default: start one on a free port)")
    parser.add_argument("--pids", default="", help="comma-separated server PIDs for RSS (with --url)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=25, help="analyses per client")
    parser.add_argument("--max-seconds", type=float, default=1800, help="no new analysis starts after this")
    args = parser.parse_args()

    proc = None
    if args.url:
        url, pids = args.url, [int(p) for p in args.pids.split(",") if p]
        wait_until_up(url)
    else:
        proc, url = start_app()
        pids = [proc.pid]
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
        if proc is not None:
            proc.terminate()
            proc.wait(30)

    planned = args.clients * args.rounds
    print(f"{url}  {args.clients} clients × {args.rounds} analyses (Analyze + one neck), {len(pids)} server "
          f"process(es), {wall:.0f} s")
    print(f"succeeded {results.done}/{planned} = {100 * results.done / planned:.1f} %  "
          f"(warm-up {warm.done}/{len(tabs())}, failures {len(results.failures)})")
    for kind, values in results.latencies.items():
        if values:
            print(f"{kind:8s} latency p50 {percentile(values, 50):6.2f} s   p95 {percentile(values, 95):6.2f} s   "
                  f"({len(values)} calls)")
    if pids:
        print(f"server RSS: start {rss_start:.0f} MiB, after warm-up {rss_warm:.0f} MiB, end {rss_end:.0f} MiB "
              f"(growth after warm-up {100 * (rss_end - rss_warm) / rss_warm:+.1f} %)")
        trend = samples.result()
        if trend:
            print("server RSS at each tenth of the run (MiB):",
                  " ".join(f"{trend[min(len(trend) - 1, k * len(trend) // 10)]:.0f}" for k in range(11)))
    for failure in results.failures[:10]:
        print("  FAILED", failure)


if __name__ == "__main__":
    main()
