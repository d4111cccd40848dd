"""Print the shipped weights' held-out results as the README's Markdown table (from the manifest)."""
from __future__ import annotations

from necklab.models.registry import NECKS
from necklab.models.weights import read_manifest


def main() -> None:
    print("| neck | task | steps | wall time | AP | AP50 | AP_S | AP_M | AP_L | mIoU | fresh (seed 0) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, entry in read_manifest().items():
        m, fresh = entry["metrics"], entry["fresh_metrics"]
        key = "mIoU" if "mIoU" in m else "AP"
        cells = [f"{m[k]:.1f}" if k in m else "—" for k in ("AP", "AP50", "AP_S", "AP_M", "AP_L", "mIoU")]
        start = f" (from {entry['warm_start']})" if entry.get("warm_start") else ""
        print(f"| {NECKS[name].title} | {entry['task']}{start} | {entry['steps']} | {entry['seconds']:.0f} s | "
              f"{' | '.join(cells)} | {key} {fresh[key]:.1f} |")


if __name__ == "__main__":
    main()
