"""How long one step of a step-through takes, per neck (graph + step figure + narration, as the app
renders them), next to the neck's analysis. Prints a table; not part of the test suite.

    python benchmarks/steps.py [--picture assets/samples/hubble_deep_field.jpg] [--steps 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from necklab.lab.analysis import analyse, run_backbone  # noqa: E402
from necklab.lab.imaging import decode  # noqa: E402
from necklab.models.registry import NECKS  # noqa: E402
from necklab.ui.neck_tab import render_step  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", default=str(ROOT / "assets/samples/hubble_deep_field.jpg"))
    parser.add_argument("--steps", type=int, default=5, help="steps timed per neck (spread over the graph)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    picture = decode(args.picture)
    run_backbone(picture)  # cached from here on, as in the app
    print(f"picture {picture.size[0]}×{picture.size[1]} px, {args.threads} threads")
    print(f"{'neck':10} {'nodes':>5} {'analysis s':>10} {'step median s':>13} {'step max s':>10} {'step/analysis':>13}")
    for name in NECKS:
        start = time.perf_counter()
        analysis = analyse(picture, name)
        render_step(analysis, 0)  # the app draws step 0 as part of running a neck
        full = time.perf_counter() - start
        n = len(analysis.topology.nodes)
        times = []
        for k in sorted({round(i * (n - 1) / max(args.steps - 1, 1)) for i in range(args.steps)}):
            start = time.perf_counter()
            render_step(analysis, k)
            times.append(time.perf_counter() - start)
        print(f"{name:10} {n:5d} {full:10.2f} {statistics.median(times):13.2f} {max(times):10.2f} "
              f"{statistics.median(times) / full:13.2f}")


if __name__ == "__main__":
    main()
