"""Contact sheet of training scenes: 12 scenes of a split with their boxes coloured by class, the
dropped (mostly hidden) objects' fragments in grey, and a legend with the size mix in COCO terms.

    python scripts/show_scenes.py [--split train|val] [--seed 0] [--out scenes.png]
"""
from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from necklab.train.cutouts import CLASSES, library
from necklab.train.scenes import SceneSet, size_bucket

COLOURS = ((230, 25, 75), (255, 200, 0), (0, 130, 200), (60, 200, 75))  # animal, food, vehicle, person
GREY = (160, 160, 160)
COLS, ROWS, GAP, LEGEND = 4, 3, 6, 40


def sheet(split: str, seed: int, first: int = 0) -> Image.Image:
    scenes = SceneSet(split, first + COLS * ROWS, seed)
    size = scenes.size
    out = Image.new("RGB", (COLS * (size + GAP) + GAP, ROWS * (size + GAP) + GAP + LEGEND), "white")
    draw = ImageDraw.Draw(out)
    font = ImageFont.load_default(size=15)
    buckets: Counter[str] = Counter()
    for n in range(COLS * ROWS):
        scene = scenes[first + n]
        x, y = GAP + (n % COLS) * (size + GAP), LEGEND + GAP + (n // COLS) * (size + GAP)
        out.paste(Image.fromarray(scene.image), (x, y))
        for x0, y0, x1, y1 in scene.ignore:
            draw.rectangle((x + x0, y + y0, x + x1 - 1, y + y1 - 1), outline=GREY, width=1)
        for (x0, y0, x1, y1), label, area in zip(scene.boxes, scene.labels, scene.areas(), strict=True):
            draw.rectangle((x + x0, y + y0, x + x1 - 1, y + y1 - 1), outline=COLOURS[label], width=2)
            buckets[size_bucket(float(area))] += 1
        draw.text((x + 4, y + 2), f"#{first + n}", fill="white", font=font, stroke_width=2, stroke_fill="black")
    cx = GAP
    for spec, colour in zip(CLASSES, COLOURS, strict=True):
        draw.rectangle((cx, 12, cx + 16, 28), fill=colour)
        draw.text((cx + 22, 12), spec.name, fill="black", font=font)
        cx += 40 + int(draw.textlength(spec.name, font=font))
    mix = " · ".join(f"{b} {buckets[b]}" for b in ("small", "medium", "large"))
    draw.text((cx + 20, 12), f"{split} scenes (seed {seed}) · objects: {mix} · grey: dropped, < 30 % visible",
              fill="black", font=font)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="train", choices=("train", "val"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="index of the first scene shown")
    parser.add_argument("--out", type=Path, default=Path("scenes.png"))
    args = parser.parse_args()
    print("cut-outs per class:", library().counts())
    sheet(args.split, args.seed, args.first).save(args.out)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
