"""Maps laid out as one RGB image with numpy and Pillow: the screen's fast path for figures that a
class redraws for every picture and step.

A matplotlib figure of a few maps takes 0.2-0.7 s to lay out and draw, and a server shared by a
class draws them for every student's picture and every step, under one interpreter lock: in a class
run the server spent most of its one core in matplotlib. Here matplotlib only lends its colour
maps, read once as 256-colour lookup tables: a map is scaled to its own range, coloured through the
table, enlarged by repeating its cells (each cell stays a visible block, so coarse levels look
coarse) or laid on the picture through its cell edges, and placed on a white sheet with its words
drawn by Pillow and kept: a title, a caption, and under each map a colour bar with the map's
minimum and maximum and what its colours measure. Figure packs still draw these figures with
matplotlib (300 dpi PNG, SVG).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
from matplotlib import colormaps
from PIL import Image, ImageDraw, ImageFont

from necklab.viz import CJK_FONT

GAP = 12
TITLE_PX, TEXT_PX, HEAD_PX = 17, 14, 20  # a tile's title and other words; the sheet's own title
MIN_PX = 11  # words too wide for their tile are drawn smaller, down to this, then cut
BAR_PX = 10
INK, FAINT = (33, 33, 33), (96, 96, 96)
BUTTONS = 72  # px kept clear right of the title: an image box's full-screen and download buttons sit there
PAPER = 255  # white: a scalar fill is ~10× faster than filling with a colour tuple


@cache
def lut(cmap: str) -> np.ndarray:
    """A matplotlib colour map as a 256×3 uint8 table."""
    return (colormaps[cmap](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


@cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The app's font (Latin and Chinese) at `size` px."""
    return ImageFont.truetype(str(CJK_FONT), size)


@lru_cache(maxsize=2048)
def text_mask(text: str, size: int) -> np.ndarray:
    """How much ink each pixel of `text` at `size` px takes (0–255), as an H×W array one line high.
    Cached: a sheet's words come back from picture to picture, and Pillow takes ~0.3 ms per text."""
    face = font(size)
    ascent, descent = face.getmetrics()
    mask = Image.new("L", (max(1, int(np.ceil(face.getlength(text)))), ascent + descent))
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=face)
    return np.asarray(mask)


def number_mask(text: str, size: int) -> np.ndarray:
    """A number's mask put together from its characters' (digits, sign, point, exponent: a few dozen
    cached glyphs, where whole numbers, new for every map, would be drawn anew every time)."""
    return np.hstack([text_mask(c, size) for c in text])


def fitted(text: str, size: int, width: int) -> np.ndarray:
    """`text`'s mask at `size` px, or smaller (down to MIN_PX) until it fits `width`; cut there."""
    for px in range(size, MIN_PX - 1, -1):
        mask = text_mask(text, px)
        if mask.shape[1] <= width:
            return mask
    return mask[:, :max(width, 1)]


def wrapped(text: str, size: int, width: int, lines: int = 2) -> list[str]:
    """`text` broken into at most `lines` lines that fit `width` at `size` px: at the last space
    that fits (at the last character that fits, for text without spaces such as Chinese); the last
    line takes the rest (`fitted` makes it smaller if need be)."""
    face, out = font(size), list[str]()
    while len(out) < lines - 1 and face.getlength(text) > width:
        fits = max(1, next(n for n in range(len(text), 0, -1) if face.getlength(text[:n]) <= width))
        cut = text.rfind(" ", 0, fits + 1)
        cut = cut if cut > 0 else fits
        out.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return out + [text]


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


def number(value: float) -> str:
    return f"{value:.3g}".replace("-", "−")


def indices(values: np.ndarray) -> tuple[np.ndarray, float, float]:
    """An H×W map as colour-table indices, scaled from its minimum (index 0) to its maximum (255); a
    flat map takes the middle. Returns the indices, the minimum and the maximum."""
    values = np.nan_to_num(values.astype(np.float32, copy=False))
    lo, hi = float(values.min()), float(values.max())
    if hi > lo:
        return ((values - lo) * (255.0 / (hi - lo))).astype(np.uint8), lo, hi
    return np.full(values.shape, 128, np.uint8), lo, hi


def enlarged(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest-neighbour enlargement: every output pixel takes the cell it falls in."""
    rows = np.arange(height) * rgb.shape[0] // height
    cols = np.arange(width) * rgb.shape[1] // width
    return rgb[rows[:, None], cols[None, :]]


@dataclass(frozen=True, eq=False)  # holds an array
class Tile:
    """One map as drawn (`pixels`, h×w×3) with its colour scale (`cmap` from `low` to `high`) and
    words: a title above, a caption under the title, and what the colours measure under the bar."""

    pixels: np.ndarray
    low: float
    high: float
    cmap: str
    title: str
    caption: str = ""
    under: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """The tile's (width, height) on the sheet: its map, words above and colour bar below."""
        h, w = self.pixels.shape[:2]
        return w, head_height(self) + h + FOOT


FOOT = 6 + BAR_PX + 2 + TEXT_PX + 6


def head_height(tile: Tile) -> int:
    return TITLE_PX + 6 + (TEXT_PX + 4 if tile.caption else 0)


def map_tile(values: np.ndarray, width: int, cmap: str, title: str, caption: str = "", under: str = "",
             height: int | None = None) -> Tile:
    """A map on its own cells, `width` px wide and as high as its cells' shape says (or `height`)."""
    index, lo, hi = indices(values)
    h, w = values.shape
    height = height or max(1, round(width * min(max(h / w, 0.25), 4.0)))
    return Tile(enlarged(lut(cmap)[index], height, width), lo, hi, cmap, title, caption, under)


def overlay_tile(picture: np.ndarray, values: np.ndarray, rows: np.ndarray, cols: np.ndarray, cmap: str,
                 title: str, caption: str = "", under: str = "", alpha: float = 0.6) -> Tile:
    """A map laid over `picture` (h×w×3, already at the tile's size): output pixel row y falls in
    the map's cell row `rows[y]` (and column `cols[x]`), -1 where it falls outside the map; there
    the picture shows alone, elsewhere the map's colour covers it at `alpha`."""
    index, lo, hi = indices(values)
    inside = (rows >= 0)[:, None] & (cols >= 0)[None, :]
    colours = lut(cmap)[index[np.clip(rows, 0, None)[:, None], np.clip(cols, 0, None)[None, :]]]
    blend = picture.astype(np.float32) * (1.0 - alpha) + colours.astype(np.float32) * alpha
    pixels = np.where(inside[..., None], blend, picture).astype(np.uint8)
    return Tile(pixels, lo, hi, cmap, title, caption, under)


Column = Sequence[Tile]  # tiles stacked top to bottom
Row = Sequence[Column]  # columns side by side, their tops in line


def column_size(column: Column) -> tuple[int, int]:
    sizes = [tile.size for tile in column]
    return max(w for w, _ in sizes), sum(h for _, h in sizes) + GAP * (len(sizes) - 1)


@dataclass(frozen=True, eq=False)
class Sheet:
    """Rows of columns of tiles under a `title` and above a `legend`: `image()` draws them."""

    rows: Sequence[Row]
    title: str = ""
    legend: str = ""

    @property
    def tiles(self) -> list[Tile]:
        return [tile for row in self.rows for column in row for tile in column]

    @property
    def words(self) -> list[str]:
        """Every text the image shows but its numbers, in drawing order."""
        texts = [self.title] + [w for tile in self.tiles for w in (tile.title, tile.caption, tile.under)]
        return [w for w in texts + [self.legend] if w]

    def image(self) -> np.ndarray:
        """The sheet as one white H×W×3 uint8 image."""
        row_sizes = [[column_size(column) for column in row] for row in self.rows]
        width = max(GAP + sum(w + GAP for w, _ in sizes) for sizes in row_sizes)
        title_width = width - 2 * GAP - BUTTONS
        title = wrapped(self.title, HEAD_PX, title_width) if self.title else []
        heights = [max(h for _, h in sizes) for sizes in row_sizes]
        top = GAP + len(title) * (HEAD_PX + 6) + (GAP if title else 0)
        height = top + sum(h + GAP for h in heights) + (TEXT_PX + GAP if self.legend else 0)
        canvas = np.full((height, width, 3), PAPER, np.uint8)
        y = top
        for row, sizes, row_height in zip(self.rows, row_sizes, heights):
            x = GAP
            for column, (column_width, _) in zip(row, sizes):
                ty = y
                for tile in column:
                    draw_tile(canvas, tile, x, ty)
                    ty += tile.size[1] + GAP
                x += column_width + GAP
            y += row_height + GAP
        for i, line in enumerate(title):
            stamp(canvas, fitted(line, HEAD_PX, title_width), GAP, GAP + i * (HEAD_PX + 6), INK)
        if self.legend:
            stamp(canvas, fitted(self.legend, TEXT_PX, width - 2 * GAP), GAP, height - TEXT_PX - GAP, INK)
        return canvas


def draw_tile(canvas: np.ndarray, tile: Tile, x: int, y: int) -> None:
    h, w = tile.pixels.shape[:2]
    stamp(canvas, fitted(tile.title, TITLE_PX, w), x, y, INK)
    if tile.caption:
        stamp(canvas, fitted(tile.caption, TEXT_PX, w), x, y + TITLE_PX + 4, FAINT)
    top = y + head_height(tile)
    canvas[top:top + h, x:x + w] = tile.pixels
    bar_top = top + h + 6
    canvas[bar_top:bar_top + BAR_PX, x:x + w] = enlarged(lut(tile.cmap)[None, :, :], BAR_PX, w)
    under = bar_top + BAR_PX + 2
    low, high = number_mask(number(tile.low), TEXT_PX), number_mask(number(tile.high), TEXT_PX)
    stamp(canvas, low, x, under, FAINT)
    stamp(canvas, high, x + w, under, FAINT, align="right")
    if tile.under:
        room = w - low.shape[1] - high.shape[1] - 8
        if room > 0:
            stamp(canvas, fitted(tile.under, TEXT_PX, room), x + low.shape[1] + 4 + room // 2, under, INK,
                  align="centre")
