"""NeckLab's speed figures (issue 6): every measure as a ratio to a reference measured in the same
process, so the figures hold on a noisy machine, with the absolute medians beside them and a
PASS/FAIL against the target. Not part of the test suite.

    python benchmarks/run.py [--quick] [--picture assets/samples/astronaut.png] [--threads 2]

Measures (CPU, `torch.set_num_threads(threads)`):
- each neck's forward in its reference configuration (registry `reference_config`) on the real
  backbone features of the picture: FLOPs (torch.utils.flop_counter) ÷ median time, ÷ the fp32
  2048×2048 matmul rate (2·n³ FLOPs per matmul) measured just before it. The reference configurations take
  ResNet channel counts (256…2048); Lite0's levels are tiled along channels to that width, so the
  values stay real features at the real spatial sizes (Recursive-FPN feeds back into Lite0 itself,
  so it runs in its tab configuration);
- per neck tab, a full analysis (decode → backbone → neck → trace → every figure the tab draws
  after a run, as the app's handlers draw them, with the per-picture caches emptied) ÷ the bare
  backbone+neck forward of the same configuration;
- one step of the step-through (every handler of the tab's step slider, step k after step k-1, as
  Next goes: its figures were drawn ahead then, and it draws step k+1 ahead) ÷ that full analysis;
- the ASPP click (taps and the effective receptive field of each branch and of the output) ÷ the
  bare backbone+ASPP forward;
- the Compare tab (table, figures, CSV) ÷ the sum of the necks' bare forwards (cached features);
- app ready (`python app.py` until its first HTTP 200) ÷ `python -c "import torch, gradio"`;
- peak RSS of a process analysing a 4096×4096 upload (Analyze, then every neck tab).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

# Reference figures of issue 6 (achieved FLOP rate ÷ matmul rate of the reference implementations).
FLOP_RATE_TARGETS = {"fpn": 1.62, "pafpn": 1.72, "nasfpn": 1.51, "aspp": 1.81, "sppf": 0.71, "bifpn": 0.07}
TARGETS = {"analysis": 2.0, "step": 0.10, "erf": 3.0, "compare": 1.5, "ready": 1.3, "rss_gb": 1.5}


def median_seconds(run: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_rate(repeats: int) -> tuple[float, float]:
    """FLOP/s of an fp32 2048×2048 matmul here, and its median seconds."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = median_seconds(lambda: a @ b, repeats)
    return 2 * n ** 3 / seconds, seconds


def fit_channels(t: torch.Tensor, channels: int) -> torch.Tensor:
    """A real feature map tiled (or cut) along channels to `channels`."""
    c = t.shape[1]
    return t.repeat(1, math.ceil(channels / c), 1, 1)[:, :channels].contiguous()


def reference_inputs(spec: Any, neck: Any, features: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    wanted = spec.reference_config.get("in_channels")
    maps = [n for n in neck.input_names if n != "image"]
    widths = dict(zip(maps, wanted if isinstance(wanted, (list, tuple)) else [wanted] * len(maps)))
    return [features[n] if n == "image" or widths[n] is None else fit_channels(features[n], widths[n])
            for n in neck.input_names]


def neck_rates(features: dict[str, torch.Tensor], repeats: int) -> list[dict]:
    """Per neck: FLOPs, median seconds and FLOP rate ÷ the matmul rate measured just before it (on a
    shared machine the load drifts; the neighbouring measurement sees the same load)."""
    from necklab.lab.analysis import count_flops
    from necklab.lab.compare import tab_config
    from necklab.models.registry import NECKS, build_neck

    rows = []
    for name, spec in NECKS.items():
        neck, config = build_neck(name, **spec.reference_config), "ref config"
        inputs = reference_inputs(spec, neck, features)
        try:
            with torch.inference_mode():
                neck(inputs)
        except RuntimeError:  # Recursive-FPN feeds back into Lite0, whose widths are not ResNet's
            neck, config = build_neck(name, **tab_config(spec)), "tab config"
            inputs = [features[n] for n in neck.input_names]
        flops = count_flops(lambda: neck(inputs), ("bench", name, config))
        rate, _ = matmul_rate(repeats)
        with torch.inference_mode():
            seconds = median_seconds(lambda: neck(inputs), repeats)
        rows.append(dict(name=name, config=config, flops=flops, seconds=seconds, rate=rate,
                         ratio=flops / seconds / rate))
    return rows


def clear_picture_caches() -> None:
    """Forget everything kept per picture, as for a picture never seen (models stay built)."""
    from necklab.lab import analysis
    from necklab.ui import neck_tab
    from necklab.widgets import common

    analysis._features.clear()
    analysis._flops.clear()
    analysis._pictures.clear()
    analysis._analyses.clear()
    neck_tab._graphs.clear()
    neck_tab._panels.clear()
    neck_tab._narrations.clear()
    common._drawn_files.clear()


def value_of(component: Any, tab: Any, analysis: Any, step: int = 0) -> Any:
    """What Gradio passes a handler of `tab` for `component`, the tab on screen showing `analysis`."""
    import gradio as gr

    from necklab.widgets.session import Session, SessionBox

    if component is tab.session:
        return SessionBox(Session(tab=tab.key))  # panels redraw for the tab on screen
    if component is tab.state:
        return analysis
    if component is tab.step:
        return step
    if isinstance(component, gr.State):
        return None  # a panel's "last drawn" state: nothing drawn yet
    return component.value


class Tabs:
    """The app's neck tabs built as the app builds them, so their handlers can be called directly."""

    def __init__(self) -> None:
        import gradio as gr

        from app import tab_groups
        from necklab.ui.neck_tab import build_neck_tab
        from necklab.widgets.session import SessionBox

        self.tabs = {}
        with gr.Blocks() as self.demo:
            session = gr.State(SessionBox())
            for title, specs in tab_groups().items():
                with gr.Tab(title):
                    tab = build_neck_tab(title, specs, session)
                self.tabs[title] = tab

    def controls(self, title: str) -> list:
        return [c.value for c in self.tabs[title].controls]

    def config(self, title: str) -> tuple[str, dict]:
        from necklab.ui.neck_tab import parse_config

        spec = self.tabs[title].specs[0]
        return spec.name, parse_config(spec, self.controls(title)[:len(spec.controls)])

    def run(self, title: str, session: Any) -> Any:
        """What a click on the tab's Run button draws: the tab's outputs, then every panel."""
        from necklab.ui.neck_tab import run_neck

        tab = self.tabs[title]
        analysis = run_neck(tab.specs, session, tab.specs[0].title, *self.controls(title)).analysis
        for fn, inputs, _ in tab.after_run:
            fn(*(value_of(c, tab, analysis) for c in inputs))
        return analysis

    def step(self, title: str, analysis: Any, k: int) -> None:
        """Every handler a change of the tab's step slider runs."""
        tab = self.tabs[title]
        for block_fn in self.demo.fns.values():
            if (tab.step._id, "change") in block_fn.targets:
                block_fn.fn(*(value_of(c, tab, analysis, k) for c in block_fn.inputs))


def bare_forward(picture: Any, name: str, config: dict, repeats: int) -> float:
    """Median seconds of backbone + neck forward, untraced, models built."""
    from necklab.lab.analysis import backbone_on, neck_on
    from necklab.models.backbone import normalise

    backbone, neck = backbone_on("cpu"), neck_on(name, config, "cpu")
    names = ["image", *(i.name for i in backbone.feature_info)]

    def run() -> None:
        x = normalise(picture.tensor())
        feats = dict(zip(names, [x, *backbone.forward_features(x)]))
        neck([feats[n] for n in neck.input_names])

    with torch.inference_mode():
        return median_seconds(run, repeats)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_ready_seconds() -> float:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {proc.returncode} before serving")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - start
            except OSError:
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait()


def import_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, gradio"], check=True, cwd=ROOT)
    return time.perf_counter() - start


RSS_CHILD = """
import resource, sys
sys.path.insert(0, {root!r})
import torch
torch.set_num_threads({threads})
from benchmarks.run import Tabs
from gradio.processing_utils import save_file_to_cache
from gradio.utils import get_upload_folder
from necklab.ui.backbone_tab import analyze
from necklab.widgets.session import Session
tabs = Tabs()
# as an upload arrives: copied into Gradio's upload cache, the only place the app reads from
cached = save_file_to_cache({path!r}, cache_dir=get_upload_folder())
session = analyze(Session(), {{"path": cached, "meta": {{"_type": "gradio.FileData"}}}}, "cpu", "C3").session
stage = {{"analyze": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}
for title in tabs.tabs:
    tabs.run(title, session)
stage["tabs"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print({{k: v / 2**20 for k, v in stage.items()}})
"""


def peak_rss_gb(picture_path: str, threads: int) -> dict[str, float]:
    """Peak RSS (GB) of a fresh process after Analyze of a 4096×4096 upload, and after every neck tab."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="necklab-bench-") as folder:
        big = Path(folder) / "big.jpg"
        Image.open(picture_path).convert("RGB").resize((4096, 4096), Image.Resampling.BICUBIC).save(big, quality=92)
        code = RSS_CHILD.format(root=str(ROOT), threads=threads, path=str(big))
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True)
    return eval(out.stdout.strip().splitlines()[-1])  # noqa: S307 — our own child's dict literal


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


WIDTHS = (44, 40, 7, 9, 4)


def row(*cells: Any) -> tuple:
    """Print one line of the table as soon as it is measured; returns it."""
    print(" | ".join(str(c).ljust(w) for c, w in zip(cells, WIDTHS)).rstrip(), flush=True)
    return cells


SECTIONS = ("flops", "tabs", "compare", "ready", "rss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default=str(ROOT / "assets/samples/astronaut.png"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (rougher figures)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS, help="measure only these")
    parser.add_argument("--tabs", nargs="+", help="neck tabs to analyse (default: all)")
    parser.add_argument("--json", type=Path, help="also write the table here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repeats = 3 if args.quick else 7
    os.chdir(ROOT)

    from necklab.graph.steps import Steps
    from necklab.lab.analysis import keep_picture, neck_on, run_backbone
    from necklab.lab.compare import tab_config
    from necklab.lab.imaging import decode
    from necklab.lessons.aspp import aspp_views
    from necklab.models.registry import NECKS
    from necklab.ui.compare_tab import compare
    from necklab.widgets.session import Session

    picture = decode(args.picture)
    print(f"NeckLab speed · {platform.processor() or platform.machine()} · {os.cpu_count()} CPUs · "
          f"torch {torch.__version__} · {args.threads} threads · picture {Path(args.picture).name} "
          f"{picture.size[0]}×{picture.size[1]} · median of {repeats}\n")
    lines = [row("measure", "median(s)", "ratio", "target", "")]
    print("-+-".join("-" * w for w in WIDTHS), flush=True)
    features = run_backbone(picture).features

    if "flops" in args.only:
        for r in neck_rates(features, repeats):
            target = FLOP_RATE_TARGETS.get(r["name"])
            lines.append(row(f"{r['name']} FLOP rate ({r['config']}) ÷ matmul",
                             f"{r['seconds'] * 1e3:.0f} ms, {r['flops'] / 1e9:.2f} GFLOP; "
                             f"mm {r['rate'] / 1e9:.0f} GFLOP/s",
                             f"{r['ratio']:.2f}",
                             f"≥ {target}" if target else "", verdict(r["ratio"] >= target) if target else ""))

    if "tabs" in args.only:
        tabs = Tabs()
        for title in args.tabs or tabs.tabs:
            name, config = tabs.config(title)
            bare = bare_forward(picture, name, config, repeats)
            analyses = {}

            def full(title: str = title) -> None:
                clear_picture_caches()
                fresh = decode(args.picture)
                run_backbone(fresh)
                analyses[title] = tabs.run(title, Session(picture=keep_picture(fresh)))

            full_s = median_seconds(full, 1 if args.quick else 3, warmup=1)
            analysis = analyses[title]
            last = Steps.of(analysis.topology).last  # the slider's steps: the opening is one of them
            steps = []
            for k in sorted({max(round(i * last / 4), 1) for i in range(5)}):
                tabs.step(title, analysis, k - 1)  # Next as a learner presses it: step k - 1 drew k ahead
                steps.append(median_seconds(lambda k=k: tabs.step(title, analysis, k), 1, warmup=0))
            step_s = statistics.median(steps)
            lines.append(row(f"{title}: full analysis ÷ bare forward", f"{full_s:.2f} s / {bare:.3f} s",
                             f"{full_s / bare:.1f}", f"≤ {TARGETS['analysis']}",
                             verdict(full_s / bare <= TARGETS["analysis"])))
            lines.append(row(f"{title}: one step ÷ full analysis", f"{step_s:.3f} s / {full_s:.2f} s",
                             f"{step_s / full_s:.2f}", f"≤ {TARGETS['step']}",
                             verdict(step_s / full_s <= TARGETS["step"])))
            if title == "ASPP":
                h, w = analysis.trace["C5"].shape[-2:]
                erf_s = median_seconds(lambda: aspp_views(Session(), analysis, (h // 3, w // 3)), repeats)
                lines.append(row("ASPP click (taps + 6 ERFs) ÷ bare forward", f"{erf_s:.2f} s / {bare:.3f} s",
                                 f"{erf_s / bare:.1f}", f"≤ {TARGETS['erf']}", verdict(erf_s / bare <= TARGETS["erf"])))

    if "compare" in args.only:
        run_backbone(picture)
        bare_sum = 0.0
        for spec in NECKS.values():
            neck = neck_on(spec.name, tab_config(spec), "cpu")
            inputs = [features[n] for n in neck.input_names]
            with torch.inference_mode():
                bare_sum += median_seconds(lambda: neck(inputs), repeats)
        session = Session(picture=keep_picture(picture))
        from necklab.lab import analysis as pipeline
        from necklab.ui.compare_tab import compare_erfs

        table_s, erf_s = [], []
        for _ in range(1 if args.quick else 3):
            pipeline._flops.clear()  # counted afresh, as for a picture of a new size
            start = time.perf_counter()
            rows = compare(session).rows
            table_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            compare_erfs(session, rows)
            erf_s.append(time.perf_counter() - start)
        table, erf = statistics.median(table_s), statistics.median(erf_s)
        lines.append(row("Compare table ÷ Σ bare neck forwards", f"{table:.2f} s / {bare_sum:.3f} s",
                         f"{table / bare_sum:.1f}", f"≤ {TARGETS['compare']}",
                         verdict(table / bare_sum <= TARGETS["compare"])))
        lines.append(row("Compare table + ERF column ÷ Σ bare", f"{table + erf:.2f} s / {bare_sum:.3f} s",
                         f"{(table + erf) / bare_sum:.1f}", f"≤ {TARGETS['compare']}",
                         verdict((table + erf) / bare_sum <= TARGETS["compare"])))

    if "ready" in args.only:
        starts = 1 if args.quick else 3
        ready = statistics.median(app_ready_seconds() for _ in range(starts))
        imports = statistics.median(import_seconds() for _ in range(starts))
        lines.append(row("app ready ÷ import torch, gradio", f"{ready:.2f} s / {imports:.2f} s",
                         f"{ready / imports:.2f}", f"≤ {TARGETS['ready']}",
                         verdict(ready / imports <= TARGETS["ready"])))

    if "rss" in args.only:
        rss = peak_rss_gb(args.picture, args.threads)
        lines.append(row("peak RSS, 4096² upload: Analyze", f"{rss['analyze']:.2f} GB", "",
                         f"≤ {TARGETS['rss_gb']} GB", verdict(rss["analyze"] <= TARGETS["rss_gb"])))
        lines.append(row("peak RSS, then every neck tab", f"{rss['tabs']:.2f} GB", "",
                         f"≤ {TARGETS['rss_gb']} GB", verdict(rss["tabs"] <= TARGETS["rss_gb"])))
    if args.json:
        args.json.write_text(json.dumps(lines, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
