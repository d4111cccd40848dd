"""Figures to pictures: the app shows and offers every figure as a PNG."""
from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_WIDTH_PX = 2400  # wide graphs are drawn at a lower dpi rather than as huge images
DPI = 110


def figure_image(fig: Figure, dpi: float = DPI) -> np.ndarray:
    """Rasterise a figure to an H×W×3 uint8 array (the figure is then discarded)."""
    dpi = min(dpi, MAX_WIDTH_PX / fig.get_figwidth())
    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
