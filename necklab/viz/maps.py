"""Feature maps on the picture: mean-activation heatmaps aligned by the exact cell grid, top channels,
and the shapes table of the backbone levels."""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.image import AxesImage
from PIL import Image

from necklab.i18n import t
from necklab.lab.analysis import BackboneResult, CellGrid
from necklab.lab.imaging import Picture
from necklab.viz.sheet import GAP, Sheet, Tile, map_tile, overlay_tile

HEATMAP_CMAP = "viridis"  # perceptually uniform and colour-blind safe
CHANNEL_CMAP = "cividis"
TITLE_SIZE = 13
LABEL_SIZE = 11


# One coordinate or an array of them; both axes of a call are of one kind, and so is the result.
Coordinate = TypeVar("Coordinate", float, np.ndarray)


def to_original(picture: Picture, x: Coordinate, y: Coordinate) -> tuple[Coordinate, Coordinate]:
    """Analysed-pixel coordinates (pixel-centre convention) in original-picture pixels:
    u ↦ (u + ½)/scale − ½ on each axis, so the picture's outer edges map onto each other."""
    sx, sy = picture.scale_xy
    return (x + 0.5) / sx - 0.5, (y + 0.5) / sy - 0.5


def cell_edges(picture: Picture, grid: CellGrid, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Original-picture pixel coordinates of the rows+1 horizontal and cols+1 vertical cell edges
    of a rows×cols map: edge k of an axis is cell k's leading edge (the last is the map's far side).
    Cell (i, j) spans one jump around its centre in analysed pixels."""
    ys = grid.start_y - grid.jump / 2 + grid.jump * np.arange(rows + 1)
    xs = grid.start_x - grid.jump / 2 + grid.jump * np.arange(cols + 1)
    xs, ys = to_original(picture, xs, ys)
    return ys, xs


def partition_edges(picture: Picture, grid: CellGrid, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Cell edges that share the uploaded picture out among a rows×cols map's cells, each pixel to
    its nearest cell centre: the interior edges are `cell_edges`' (midway between centres), the outer
    ones are the picture's borders. The uniform cells themselves can stop short of a border or
    overhang it (TF-SAME padding puts C5's first centre at 31 px on a 256-px side, at 2 px on 451)."""
    w, h = picture.original_size
    ys, xs = cell_edges(picture, grid, rows, cols)
    ys, xs = np.clip(ys, -0.5, h - 0.5), np.clip(xs, -0.5, w - 0.5)
    ys[[0, -1]] = -0.5, h - 0.5
    xs[[0, -1]] = -0.5, w - 0.5
    return ys, xs


def original_extent(picture: Picture, grid: CellGrid, rows: int, cols: int) -> tuple[float, float, float, float]:
    """imshow extent (left, right, bottom, top) of a rows×cols map in original-picture pixels."""
    ys, xs = cell_edges(picture, grid, rows, cols)
    return float(xs[0]), float(xs[-1]), float(ys[-1]), float(ys[0])


def show_picture(ax: Axes, picture: Picture, lang: str = "en") -> None:
    """The analysed picture stretched over the original picture's pixel coordinates."""
    w, h = picture.original_size
    ax.imshow(picture.rgb, extent=(-0.5, w - 0.5, h - 0.5, -0.5), interpolation="bilinear")
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_xlabel(t("maps.x_px", lang), fontsize=LABEL_SIZE - 2)
    ax.set_ylabel(t("maps.y_px", lang), fontsize=LABEL_SIZE - 2)
    ax.tick_params(labelsize=LABEL_SIZE - 3)


def picture_tile(picture: Picture, values: np.ndarray, grid: CellGrid, width: int, title: str, caption: str = "",
                 under: str = "") -> Tile:
    """A map of one value per cell laid on the picture through its cell grid (`sheet`'s fast path
    for `overlay_heatmap`), `width` px wide and as high as the original picture's aspect says."""
    w, h = picture.original_size
    height = max(1, round(width * h / w))
    ys, xs = cell_edges(picture, grid, *values.shape)
    # each output pixel's centre in original-picture pixels, and the cell it falls in (-1: none)
    at_x = (np.arange(width) + 0.5) * w / width - 0.5
    at_y = (np.arange(height) + 0.5) * h / height - 0.5
    cols, rows = np.searchsorted(xs, at_x, side="right") - 1, np.searchsorted(ys, at_y, side="right") - 1
    cols[cols >= values.shape[1]], rows[rows >= values.shape[0]] = -1, -1
    shown = np.asarray(Image.fromarray(picture.rgb).resize((width, height), Image.Resampling.BILINEAR))
    return overlay_tile(shown, values, rows, cols, HEATMAP_CMAP, title, caption, under)


def mean_map(feature: torch.Tensor) -> np.ndarray:
    """Mean over channels of a 1×C×H×W map, as H×W float."""
    return feature[0].float().mean(dim=0).cpu().numpy()


def channel_energy(feature: torch.Tensor) -> torch.Tensor:
    """Energy (sum of squares) of each channel of a 1×C×H×W map, shape (C,): picks the channels
    worth showing."""
    return feature[0].float().cpu().pow(2).sum(dim=(1, 2))


def strongest(feature: torch.Tensor, k: int) -> list[int]:
    """The k channels of a 1×C×H×W map with the most energy, strongest first."""
    return channel_energy(feature).argsort(descending=True)[:k].tolist()


def overlay_heatmap(ax: Axes, picture: Picture, values: np.ndarray, grid: CellGrid, alpha: float = 0.6,
                    lang: str = "en") -> AxesImage:
    """Draw the picture and a heatmap of one value per cell aligned on it; returns the image artist."""
    show_picture(ax, picture, lang)
    extent = original_extent(picture, grid, *values.shape)
    return ax.imshow(values, extent=extent, cmap=HEATMAP_CMAP, alpha=alpha, interpolation="nearest")


def set_map(im: AxesImage, values: np.ndarray, extent: tuple[float, float, float, float] | None = None) -> None:
    """Put other values (of any shape) in an image artist, as `imshow(values, extent=extent)` would
    draw them: the extent (default: one unit per cell) and the colour scale follow the values."""
    h, w = values.shape[:2]
    im.set_data(values)
    im.set_extent(extent if extent is not None else (-0.5, w - 0.5, h - 0.5, -0.5))
    im.autoscale()


LEVEL_WIDTH = (150, 300)  # a level's tile on the screen's overview: narrowest and widest
SHEET_WIDTH = 1150  # px: the screen's sheets aim at this width
CHANNEL_WIDTH = 196  # px: a tile of the channel grid (four to a row)


def levels_sheet(picture: Picture, backbone: BackboneResult, lang: str = "en") -> Sheet:
    """Mean activation of every backbone level laid on the picture, one tile per level (`Sheet`)."""
    n = len(backbone.info)
    width = int(np.clip((SHEET_WIDTH - GAP * (n + 1)) // n, *LEVEL_WIDTH))
    tiles = []
    for info in backbone.info:
        feature = backbone.features[info.name]
        _, c, fh, fw = feature.shape
        title, caption = t("maps.level_title", lang, name=info.name, stride=info.stride,
                           shape=f"{c}×{fh}×{fw}").split("\n")
        tiles.append([picture_tile(picture, mean_map(feature), backbone.grids[info.name], width, title, caption)])
    return Sheet([tiles], title=t("maps.levels_suptitle", lang), legend=t("maps.mean_over_channels", lang))


def channels_sheet(feature: torch.Tensor, name: str, k: int = 8, lang: str = "en") -> Sheet:
    """The k channels of a 1×C×H×W map with the most energy (sum of squares), each on its own colour
    scale (`Sheet`)."""
    maps = feature[0].float().cpu()
    energy = channel_energy(feature)
    k = min(k, maps.shape[0])
    cols = min(4, k)
    tiles = [[map_tile(maps[ch].numpy(), CHANNEL_WIDTH, CHANNEL_CMAP,
                       t("maps.channel_energy", lang, ch=ch, energy=f"{energy[ch]:.3g}"))]
             for ch in strongest(feature, k)]
    return Sheet([tiles[i:i + cols] for i in range(0, k, cols)],
                 title=t("maps.top_suptitle", lang, name=name, k=k, n=maps.shape[0]))


def backbone_table_headers(lang: str = "en") -> list[str]:
    return t("backbone.headers", lang).split("|")


BACKBONE_TABLE_HEADERS = backbone_table_headers()


def backbone_table(backbone: BackboneResult) -> list[list]:
    """One row per backbone level: shape, stride and theoretical receptive field in analysed pixels."""
    rows = []
    for info in backbone.info:
        f = backbone.features[info.name]
        rows.append([info.name, info.stride, f.shape[1], f.shape[2], f.shape[3],
                     int(backbone.grids[info.name].rf_size), round(float(f.float().mean()), 4),
                     round(float(f.float().max()), 4)])
    return rows
