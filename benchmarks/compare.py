"""The Compare tab's table from the command line: every neck of the zoo on one picture's backbone
features, timed by the same `necklab.lab.compare.compare_zoo` the app uses. Not part of the test suite.

    python benchmarks/compare.py [--picture assets/samples/astronaut.png] [--repeats 5] [--device cpu]
                                 [--figures DIR]   # also save the tab's two figures as PNGs there
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from necklab.lab.analysis import run_backbone  # noqa: E402
from necklab.lab.compare import compare_zoo  # noqa: E402
from necklab.lab.imaging import decode  # noqa: E402
from necklab.viz.compare import erf_area_figure, global_context, notes_text, params_latency_figure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default=str(ROOT / "assets/samples/astronaut.png"))
    parser.add_argument("--repeats", type=int, default=5, help="timed forwards per neck (median reported)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--figures", type=Path, help="folder for the two figures (PNG)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    picture = decode(args.picture)
    run_backbone(picture, args.device)  # the app has run it at Analyze: not part of the comparison
    print(f"picture {picture.size[0]}×{picture.size[1]} px, {args.device}, {args.threads} threads, "
          f"median of {args.repeats}")
    start = time.perf_counter()
    rows = compare_zoo(picture, args.device, args.repeats)
    total = time.perf_counter() - start
    print(f"{'neck':15} {'params':>10} {'GFLOPs':>7} {'ms':>8} {'finest':>12} {'stride':>6} {'local RF':>8} "
          f"{'global':>13} {'ERF px²':>8} {'ERF %':>6}")
    for r in rows:
        if r.error:
            print(f"{r.title:15} failed: {r.error}")
            continue
        print(f"{r.title:15} {r.params:10,d} {r.flops / 1e9:7.3f} {r.latency_ms:8.2f} {r.finest:>12} "
              f"{r.stride or '—':>6} {r.local_rf_px or 0:8.0f} {global_context(r):>13} {r.erf_px or '—':>8} "
              f"{f'{r.erf_percent:.1f}' if r.erf_percent is not None else '—':>6}")
    for r in rows:
        if r.notes:
            print(f"  {r.title}: {notes_text(r)}")
    latencies = sum(r.latency_ms for r in rows if r.latency_ms is not None) / 1000
    print(f"total {total:.1f} s; sum of median latencies {latencies:.3f} s; ratio {total / latencies:.0f}")
    if args.figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        subtitle = f"{picture.size[0]}×{picture.size[1]} px picture on {args.device}"
        for name, figure in (("params_latency", params_latency_figure), ("erf_area", erf_area_figure)):
            figure(rows, subtitle).savefig(args.figures / f"{name}.png", dpi=110)


if __name__ == "__main__":
    main()
