"""Regenerate assets/fonts/: the subset of Noto Sans CJK SC that figures use for Chinese text.

Keeps every character of the Chinese data files (assets/i18n/zh*.json) plus printable ASCII, so the
app draws Chinese figures offline on any machine without a system CJK font. Needs Debian's
fonts-noto-cjk (apt-get install fonts-noto-cjk) and fontTools; run it after adding Chinese text:

    .venv/bin/python scripts/make_cjk_font.py

The subset is a Modified Version under the SIL Open Font License 1.1 (assets/fonts/OFL.txt); its
family is renamed so it is never mistaken for the full font.
"""
from __future__ import annotations

import re
from pathlib import Path

from fontTools.subset import Options, Subsetter
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
LICENCE = Path("/usr/share/doc/fonts-noto-cjk/copyright")
OUT = ROOT / "assets" / "fonts"
FAMILY = "NeckLab Sans SC"
FILE = "NeckLabSansSC-Regular.otf"


def characters() -> str:
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "assets" / "i18n").glob("zh*.json")))
    ascii_printable = "".join(chr(c) for c in range(0x20, 0x7F))
    return "".join(sorted(set(text + ascii_printable) - {"\n", "\r", "\t"}))


def main() -> None:
    font = next(f for f in TTCollection(SOURCE).fonts if f["name"].getDebugName(1) == "Noto Sans CJK SC")
    copyright_notice = font["name"].getDebugName(0)
    options = Options()
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]
    options.layout_features = ["*"]
    subsetter = Subsetter(options)
    subsetter.populate(text=characters())
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6):
            value = {1: FAMILY, 3: f"{FAMILY} subset", 4: FAMILY,
                     6: FAMILY.replace(" ", "") + "-Regular"}[record.nameID]
            names.setName(value, record.nameID, record.platformID, record.platEncID, record.langID)
    OUT.mkdir(parents=True, exist_ok=True)
    font.save(OUT / FILE)
    ofl = LICENCE.read_text(encoding="utf-8").split("License: SIL-1.1\n", 2)[2].split("\nLicense:", 1)[0]
    ofl = re.sub(r"^ \.?", "", ofl, flags=re.M)
    (OUT / "OFL.txt").write_text(
        f"{FILE} is a subset of Noto Sans CJK SC (https://github.com/googlefonts/noto-cjk), made by\n"
        f"scripts/make_cjk_font.py from Debian's fonts-noto-cjk, family renamed to \"{FAMILY}\".\n\n"
        f"{copyright_notice}\n\n{ofl.strip()}\n", encoding="utf-8")
    print(f"{OUT / FILE}: {len(characters())} characters, {(OUT / FILE).stat().st_size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
