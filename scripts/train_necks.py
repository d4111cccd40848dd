"""Train every neck (or some) on the synthetic scenes and ship the weights with their manifest.

    .venv/bin/python scripts/train_necks.py                  # all, into assets/weights (≈ 40 min, 2 cores)
    .venv/bin/python scripts/train_necks.py --only fpn,bifpn
    .venv/bin/python scripts/train_necks.py --smoke --out /tmp/w   # a tiny run: 32 scenes, 5 steps each

Needs Debian's openclipart-png (the cut-outs); the backbone features of the scenes are computed once
and kept under ~/.cache/necklab (NECKLAB_CACHE).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from necklab.models.weights import WEIGHTS_DIR
from necklab.train.cutouts import DataSourceMissing
from necklab.train.zoo import TRAIN_SCENES, VAL_SCENES, train_zoo, trainable


class Bar:
    """A one-line progress bar on stderr: share done, what is being done, time since start."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, share: float, text: str) -> None:
        filled = int(30 * min(max(share, 0.0), 1.0))
        seconds = time.monotonic() - self.start
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {text[:80]:<80} {seconds:6.0f} s")
        sys.stderr.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated necks (default all: {', '.join(trainable())})")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="folder of the weights and manifest")
    parser.add_argument("--train-scenes", type=int, default=TRAIN_SCENES)
    parser.add_argument("--val-scenes", type=int, default=VAL_SCENES)
    parser.add_argument("--steps", type=int, help="steps for every neck (default: each neck's planned steps)")
    parser.add_argument("--smoke", action="store_true", help="32 train and 16 val scenes, 5 steps per neck")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else None
    train, val, steps = args.train_scenes, args.val_scenes, args.steps
    if args.smoke:
        train, val, steps = 32, 16, 5
    try:
        result = train_zoo(names, args.out, train, val, dict.fromkeys(names or trainable(), steps) if steps else None,
                           progress=Bar())
    except DataSourceMissing as missing:
        print(f"\n{missing.text()}", file=sys.stderr)
        return 2
    print()
    for name, entry in result["necks"].items():
        metric = entry["metrics"]
        shown = f"mIoU {metric['mIoU']}" if "mIoU" in metric else \
            f"AP {metric['AP']} (S {metric['AP_S']} M {metric['AP_M']} L {metric['AP_L']})"
        print(f"{name:10s} {shown:40s} {entry['steps']} steps {entry['seconds']:.0f} s")
    print(f"all: {result['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
