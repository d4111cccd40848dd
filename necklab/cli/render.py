"""Write a neck lesson's figure pack without the browser:

    necklab render PICTURE --neck pafpn --out DIR [--config key=value ...] [--device cpu] [--lang en] [--zip]

The pack is what the app's "Export lesson (ZIP)" button gives: every figure as PNG (300 dpi) and
SVG, the shapes table as CSV and JSON, and lesson.md with each step's narration.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from necklab.api import analyse_picture
from necklab.lab.analysis import available_devices
from necklab.models.registry import NECKS

TEXT = {
    "description": "Write a NeckLab lesson pack (figures, shapes, lesson.md) for one picture and one neck.",
    "picture": "the picture file (PNG, JPEG, WebP, GIF, BMP or TIFF)",
    "neck": "the neck: {choices} (or its title, any case)",
    "out": "folder to write the pack into (created)",
    "config": "a setting of the neck as the app's tab offers it, e.g. out_channels=128 or atrous_rates=6,12,18",
    "device": "where to run: {choices} (default cpu)",
    "lang": "language of the narration and figures (default en)",
    "zip": "also write DIR/lesson.zip with every file",
    "bad_pair": "--config takes key=value, not {pair!r}",
    "progress": "[{percent:3.0f}%] {text}",
}


def settings(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(TEXT["bad_pair"].format(pair=pair))
        out[key.strip()] = value.strip()
    return out


def main(argv: Sequence[str] | None = None, prog: str = "python -m necklab.cli.render") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=TEXT["description"])
    parser.add_argument("picture", help=TEXT["picture"])
    parser.add_argument("--neck", required=True, help=TEXT["neck"].format(choices=", ".join(NECKS)))
    parser.add_argument("--out", required=True, help=TEXT["out"])
    parser.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help=TEXT["config"])
    parser.add_argument("--device", default="cpu", help=TEXT["device"].format(choices=", ".join(available_devices())))
    parser.add_argument("--lang", default="en", help=TEXT["lang"])
    parser.add_argument("--zip", action="store_true", help=TEXT["zip"])
    args = parser.parse_args(argv)
    try:
        lab = analyse_picture(args.picture, args.neck, settings(args.config), args.device, args.lang)
    except ValueError as e:  # a bad picture, neck, setting, device or language: say which and stop
        parser.error(str(e))

    def progress(fraction: float, text: str) -> None:
        if text:
            print(TEXT["progress"].format(percent=100 * fraction, text=text), file=sys.stderr, flush=True)

    print(lab.pack(args.out, zip=args.zip, progress=progress))
    return 0


if __name__ == "__main__":
    sys.exit(main())
