"""A camera frame's output maps drawn fast: one RGB image, with numpy and Pillow only.

Drawing a matplotlib figure takes longer than a whole frame may on two cores (5 frames/s leave
200 ms for the backbone, the neck and the drawing), so matplotlib only lends its colour map, read
once as a 256-colour lookup table: every map is scaled to its own range, coloured through the
table, enlarged by repeating its cells (each cell stays a visible block, so coarse levels look
coarse), and laid out side by side with text drawn once by Pillow and kept: the level's name, its
C×H×W size and stride, and under each map a colour bar with the map's minimum and maximum.
"""
from __future__ import annotations

from functools import cache, lru_cache

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from necklab.i18n import t
from necklab.lab.live import LevelMap, LiveMaps
from necklab.viz import CJK_FONT
from necklab.viz.maps import HEATMAP_CMAP

LUT = (colormaps[HEATMAP_CMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
WIDTH = 1000  # the image's width to aim at (tiles share it)
TILE_WIDTH = (150, 320)  # a tile's narrowest and widest
PER_ROW = 5
GAP = 12
TITLE_PX, TEXT_PX = 17, 14
BAR_PX = 10
INK, FAINT = (33, 33, 33), (96, 96, 96)
PAPER = 255  # white: a scalar fill is ~10× faster than filling with a colour tuple


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The app's font (Latin and Chinese) at `size` px."""
    return ImageFont.truetype(str(CJK_FONT), size)


@lru_cache(maxsize=512)
def text_mask(text: str, size: int) -> np.ndarray:
    """How much ink each pixel of `text` at `size` px takes (0–255), as an H×W array one line high.
    Cached: a tile's words stay the same from frame to frame, and Pillow takes ~0.3 ms per text."""
    face = font(size)
    ascent, descent = face.getmetrics()
    mask = Image.new("L", (max(1, int(np.ceil(face.getlength(text)))), ascent + descent))
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=face)
    return np.asarray(mask)


def number_mask(text: str, size: int) -> np.ndarray:
    """A number's mask put together from its characters' (digits, sign, point, exponent: a few dozen
    cached glyphs, where whole numbers, new every frame, would be drawn anew every frame)."""
    return np.hstack([text_mask(c, size) for c in text])


def stamp(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, colour: tuple[int, int, int],
          align: str = "left") -> None:
    """Ink `mask` onto `canvas` in `colour`, its top at y and its left, right or centre at x."""
    h, w = mask.shape
    x -= {"left": 0, "right": w, "centre": w // 2}[align]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    ink = mask[y0 - y:y1 - y, x0 - x:x1 - x, None].astype(np.float32) / 255.0
    region = canvas[y0:y1, x0:x1]
    region[:] = (region * (1.0 - ink) + np.asarray(colour, np.float32) * ink).astype(np.uint8)


def coloured(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """An H×W map as H×W×3 colours, scaled from its minimum (the table's first colour) to its
    maximum (the last); a flat map takes the middle colour. Returns the colours, minimum, maximum."""
    values = np.nan_to_num(values.astype(np.float32, copy=False))
    lo, hi = float(values.min()), float(values.max())
    if hi > lo:
        index = ((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)
    else:
        index = np.full(values.shape, 128, np.uint8)
    return LUT[index], lo, hi


def enlarged(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour enlargement: every output pixel takes the cell it falls in."""
    rows = np.arange(height) * rgb.shape[0] // height
    cols = np.arange(width) * rgb.shape[1] // width
    return rgb[rows[:, None], cols[None, :]]


def level_title(level: LevelMap) -> str:
    """The node's id, and its pyramid level when the id does not say it (NAS-FPN's `s7.sum_43_3`)."""
    if level.level is None or level.node == f"P{level.level}":
        return level.node
    return f"{level.node}  (P{level.level})"


def level_text(level: LevelMap, lang: str) -> str:
    shape = "×".join(map(str, level.shape))
    if level.level is None:
        return shape
    return t("live.shape_stride", lang, shape=shape, stride=2 ** level.level)


def number(value: float) -> str:
    return f"{value:.3g}".replace("-", "−")


def live_image(maps: LiveMaps, lang: str = "en") -> np.ndarray:
    """The frame's maps as one H×W×3 uint8 image, one tile per output level, with its legend."""
    n = max(1, len(maps.levels))
    per_row = min(n, PER_ROW)
    tile_w = int(np.clip((WIDTH - GAP * (per_row + 1)) // per_row, *TILE_WIDTH))
    frame_w, frame_h = maps.size
    tile_h = max(1, round(tile_w * frame_h / frame_w))
    head = TITLE_PX + TEXT_PX + 12
    foot = 6 + BAR_PX + TEXT_PX + 8
    cell_h = head + tile_h + foot
    rows = -(-len(maps.levels) // per_row)
    legend_h = TEXT_PX + 2 * GAP
    width = GAP + per_row * (tile_w + GAP)
    height = GAP + rows * (cell_h + GAP) + legend_h
    canvas = np.full((height, width, 3), PAPER, np.uint8)
    bar = enlarged(LUT[None, :, :], BAR_PX, tile_w)
    labels = []
    for i, level in enumerate(maps.levels):
        x = GAP + (i % per_row) * (tile_w + GAP)
        y = GAP + (i // per_row) * (cell_h + GAP)
        rgb, lo, hi = coloured(level.values)
        top = y + head
        canvas[top:top + tile_h, x:x + tile_w] = enlarged(rgb, tile_h, tile_w)
        bar_top = top + tile_h + 6
        canvas[bar_top:bar_top + BAR_PX, x:x + tile_w] = bar
        labels.append((x, y, bar_top + BAR_PX + 2, level, lo, hi))
    for x, y, under, level, lo, hi in labels:
        stamp(canvas, text_mask(level_title(level), TITLE_PX), x, y, INK)
        stamp(canvas, text_mask(level_text(level, lang), TEXT_PX), x, y + TITLE_PX + 4, FAINT)
        stamp(canvas, number_mask(number(lo), TEXT_PX), x, under, FAINT)
        stamp(canvas, number_mask(number(hi), TEXT_PX), x + tile_w, under, FAINT, align="right")
        if level.channel is not None:
            stamp(canvas, text_mask(t("live.channel", lang, channel=level.channel), TEXT_PX), x + tile_w // 2, under,
                  INK, align="centre")
    legend = text_mask(t(f"live.legend_{maps.kind}", lang), TEXT_PX)
    stamp(canvas, legend, GAP, height - legend_h + GAP // 2, INK)
    return canvas
