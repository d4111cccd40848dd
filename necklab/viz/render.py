"""Figures to pictures: the app shows and offers every figure as a PNG."""
from __future__ import annotations

from threading import Lock
from typing import Any, Protocol

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_WIDTH_PX = 2400  # wide graphs are drawn at a lower dpi rather than as huge images
DPI = 110


def screen_dpi(fig: Figure, dpi: float = DPI) -> float:
    """The dpi a figure is shown at: `dpi`, or less for a figure wider than MAX_WIDTH_PX."""
    return min(dpi, MAX_WIDTH_PX / fig.get_figwidth())


def figure_image(fig: Figure, dpi: float = DPI) -> np.ndarray:
    """Rasterise a figure to an H×W×3 uint8 array (the figure is then discarded)."""
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(screen_dpi(fig, dpi))
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


class Frame(Protocol):
    """A figure in fixed positions that shows one item after another in the same artists:
    `show(*item)` sets the item's data and words; `changing` are the artists an item changes."""

    fig: Figure
    changing: list[Artist]

    @property
    def nbytes(self) -> int:
        """The memory of what its artists hold besides the item (e.g. the picture under the maps)."""

    def show(self, *item: Any) -> Figure: ...


class Blitted:
    """A frame shown many times: its figure is drawn once without the changing artists (`draws`
    counts these full draws), and each `image(*item)` draws only those, with the item's data, over
    that saved background — the pixels a full draw of the figure would give, without laying out
    and drawing again the axes, ticks and words that stay. One item at a time (`lock`): a frame
    is shared by the sessions showing items of its kind."""

    def __init__(self, frame: Frame, dpi: float = DPI) -> None:
        self.frame, fig = frame, frame.fig
        for artist in frame.changing:
            artist.set_animated(True)  # left out of the full draw
        self.canvas = FigureCanvasAgg(fig)
        fig.set_dpi(screen_dpi(fig, dpi))
        self.canvas.draw()
        self.draws = 1
        self.background = self.canvas.copy_from_bbox(fig.bbox)
        self.lock = Lock()

    @property
    def nbytes(self) -> int:
        """The memory it holds: two pixel buffers (the canvas and the saved background) and the frame's."""
        return 2 * 4 * int(self.frame.fig.bbox.width) * int(self.frame.fig.bbox.height) + self.frame.nbytes

    def image(self, *item: Any) -> np.ndarray:
        """The frame showing `item`, as an H×W×3 uint8 array."""
        with self.lock:
            fig = self.frame.show(*item)
            self.canvas.restore_region(self.background)
            for artist in self.frame.changing:
                fig.draw_artist(artist)
            return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
