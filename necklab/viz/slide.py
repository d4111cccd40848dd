"""The 16:9 slide preset of figure packs: every figure becomes a 1920×1080 PNG stated at 300 dpi
(6.4×3.6 in on the page) and an SVG whose words stay editable text.

A figure is laid out at a *design size* — 16:9, as wide as it needs, but never so wide that its
smallest words drop under MIN_TEXT_PX once the drawing is scaled to the slide's 1920 px — and
rendered at the dpi that makes it exactly 1920 px wide. Figures with a layout engine (most lesson
figures) re-flow into the new shape; the graph has its own slide layout (`GraphPicture(slide=True)`).
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image
from PIL.PngImagePlugin import PngInfo

SLIDE_PX = (1920, 1080)
SLIDE_DPI = 300  # stated in the PNG: 6.4×3.6 in, a full 16:9 slide at print quality
SLIDE_INCHES = (SLIDE_PX[0] / SLIDE_DPI, SLIDE_PX[1] / SLIDE_DPI)
ASPECT = SLIDE_PX[0] / SLIDE_PX[1]
MIN_TEXT_PX = 18  # the smallest words on the 1920 px slide
# Who opens an SVG may lack the fonts matplotlib drew with: after them, CJK faces common on
# Windows, macOS and Linux, then any sans-serif.
SVG_FALLBACK_FONTS = ("'NeckLab Sans SC'", "'Noto Sans CJK SC'", "'Source Han Sans SC'", "'Microsoft YaHei'",
                      "'PingFang SC'", "Arial", "sans-serif")


def text_px(points: float, design_width: float) -> float:
    """How tall `points` of text come out on the slide when a figure `design_width` inches wide
    fills its 1920 px."""
    return points / 72 * SLIDE_PX[0] / design_width


def widest_design(points: float) -> float:
    """The widest design size (inches) at which text of `points` is still MIN_TEXT_PX on the slide."""
    return points * SLIDE_PX[0] / (72 * MIN_TEXT_PX)


def _words(fig: Figure) -> Iterator[Text]:
    for text in fig.findobj(Text):
        if isinstance(text, Text) and text.get_visible() and text.get_text().strip():
            yield text


def smallest_text(fig: Figure) -> float:
    """The size (points) of the figure's smallest visible words (tick labels included: drawing
    makes them)."""
    fig.draw_without_rendering()
    return min((float(text.get_fontsize()) for text in _words(fig)), default=float(matplotlib.rcParams["font.size"]))


def fit_to_slide(fig: Figure) -> None:
    """Give `fig` the 16:9 design size around its own size (the short side grows), narrowed where
    its smallest words would otherwise be under MIN_TEXT_PX on the slide."""
    w, h = fig.get_size_inches()
    width = min(max(w, h * ASPECT), widest_design(smallest_text(fig)))
    fig.set_size_inches(width, width / ASPECT)
    for child in fig.get_children():  # the figure's own words: suptitle and texts
        if isinstance(child, Text):
            child.set_wrap(True)  # a title written for a wider figure breaks into lines, not off the edge


def slide_dpi(fig: Figure) -> float:
    """The dpi that renders `fig` (already 16:9) exactly SLIDE_PX[0] wide."""
    return SLIDE_PX[0] / fig.get_figwidth()


def save_png(fig: Figure, path: Path) -> None:
    """The figure as a 1920×1080 PNG stating 300 dpi (so a slide tool places it as a full slide)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=slide_dpi(fig))
    with Image.open(buffer) as drawn:
        # a pixel lost to rounding the design size is stretched back
        image = drawn if drawn.size == SLIDE_PX else drawn.resize(SLIDE_PX, Image.Resampling.LANCZOS)
        info = PngInfo()
        info.add_text("Software", "NeckLab")
        image.save(path, dpi=(SLIDE_DPI, SLIDE_DPI), pnginfo=info)


def _with_fallbacks(match: re.Match) -> str:
    names = [name.strip() for name in match.group(1).split(",")]
    return "font-family: " + ", ".join(dict.fromkeys([*names, *SVG_FALLBACK_FONTS]))


def save_svg(fig: Figure, path: Path) -> None:
    """The figure as SVG with its words as <text> (editable and translatable in a slide tool), each
    naming the fonts it was drawn with and the common fallbacks; no date, so the file is reproducible."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    path.write_text(re.sub(r"font-family: ([^;\"]*)", _with_fallbacks, buffer.getvalue()), encoding="utf-8")


def save_slide(fig: Figure, folder: Path, name: str) -> list[Path]:
    """Fit `fig` to the slide and save it as `name`.png and `name`.svg in `folder`; returns the files."""
    fit_to_slide(fig)
    png, svg = folder / f"{name}.png", folder / f"{name}.svg"
    save_png(fig, png)
    save_svg(fig, svg)
    return [png, svg]
