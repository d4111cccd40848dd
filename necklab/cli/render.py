"""Write a neck lesson's figure pack without the browser:

    necklab render PICTURE --neck pafpn --out DIR [--config key=value ...] [--device cpu] [--lang en|zh] [--zip]

The pack is what the app's "Export lesson (ZIP)" button gives: every figure as a 16:9 slide (PNG
1920×1080 at 300 dpi, SVG with editable text), the shapes table as CSV and JSON, and lesson.md, a
lesson plan. `--lang` sets the language of the pack and of this command's help, messages and
progress lines.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from necklab.api import analyse_picture
from necklab.i18n import t
from necklab.lab.analysis import available_devices
from necklab.models.registry import NECKS
from necklab.models.weights import CHOICES, TRAINED
from necklab.pack.write import LANGUAGES


def settings(pairs: Sequence[str], lang: str = "en") -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(t("cli.bad_pair", lang, pair=pair))
        out[key.strip()] = value.strip()
    return out


def words_language(argv: Sequence[str] | None) -> str:
    """The `--lang` of the command line, read before the parser is built so that its help is
    already in that language; English when it is missing or not a language of the pack."""
    early = argparse.ArgumentParser(add_help=False)
    early.add_argument("--lang", default="en")
    lang = early.parse_known_args(argv)[0].lang
    return lang if lang in LANGUAGES else "en"


def main(argv: Sequence[str] | None = None, prog: str = "python -m necklab.cli.render") -> int:
    lang = words_language(argv)
    parser = argparse.ArgumentParser(prog=prog, description=t("cli.description", lang))
    parser.add_argument("picture", help=t("cli.picture", lang))
    parser.add_argument("--neck", required=True, help=t("cli.neck", lang, choices=", ".join(NECKS)))
    parser.add_argument("--out", required=True, help=t("cli.out", lang))
    parser.add_argument("--config", nargs="*", default=[], metavar="KEY=VALUE", help=t("cli.config", lang))
    parser.add_argument("--device", default="cpu",
                        help=t("cli.device", lang, choices=", ".join(available_devices())))
    parser.add_argument("--lang", default="en", choices=LANGUAGES,
                        help=t("cli.lang", lang, choices=", ".join(LANGUAGES)))
    parser.add_argument("--weights", default=TRAINED, choices=CHOICES, help=t("cli.weights", lang))
    parser.add_argument("--zip", action="store_true", help=t("cli.zip", lang))
    args = parser.parse_args(argv)
    try:
        lab = analyse_picture(args.picture, args.neck, settings(args.config, lang), args.device, lang,
                              weights=args.weights)
    except ValueError as e:  # a bad picture, neck, setting or device: say which and stop
        parser.error(str(e))

    def progress(fraction: float, text: str) -> None:
        if text:
            print(t("cli.progress", lang, percent=100 * fraction, text=text), file=sys.stderr, flush=True)

    print(lab.pack(args.out, zip=args.zip, progress=progress))
    return 0


if __name__ == "__main__":
    sys.exit(main())
