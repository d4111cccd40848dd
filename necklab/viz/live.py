"""A camera frame's output maps drawn fast: one RGB image, with numpy and Pillow only (`sheet`).

Drawing a matplotlib figure takes longer than a whole frame may on two cores (5 frames/s leave
200 ms for the backbone, the neck and the drawing): one tile per output level, its name, its
C×H×W size and stride, and under each map a colour bar with the map's minimum and maximum.
"""
from __future__ import annotations

import numpy as np

from necklab.i18n import t
from necklab.lab.live import LevelMap, LiveMaps
from necklab.viz.maps import HEATMAP_CMAP
from necklab.viz.sheet import GAP, Sheet, map_tile

WIDTH = 1000  # the image's width to aim at (tiles share it)
TILE_WIDTH = (150, 320)  # a tile's narrowest and widest
PER_ROW = 5


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


def live_image(maps: LiveMaps, lang: str = "en") -> np.ndarray:
    """The frame's maps as one H×W×3 uint8 image, one tile per output level, with its legend."""
    n = max(1, len(maps.levels))
    per_row = min(n, PER_ROW)
    tile_w = int(np.clip((WIDTH - GAP * (per_row + 1)) // per_row, *TILE_WIDTH))
    frame_w, frame_h = maps.size
    tile_h = max(1, round(tile_w * frame_h / frame_w))
    tiles = [map_tile(level.values, tile_w, HEATMAP_CMAP, level_title(level), level_text(level, lang),
                      t("live.channel", lang, channel=level.channel) if level.channel is not None else "", tile_h)
             for level in maps.levels]
    rows = [[[tile] for tile in tiles[i:i + per_row]] for i in range(0, len(tiles), per_row)]
    return Sheet(rows, legend=t(f"live.legend_{maps.kind}", lang)).image()
