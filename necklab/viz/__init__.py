"""Picture side: pure functions from (analysis, topology, picture) to figures, images and tables.

Nothing here runs a model or knows about Gradio. Figures use the Agg backend and are returned to
the caller, who owns (and closes) them. Figures take `lang` ("en" or "zh") for their words; Chinese
glyphs come from the subset font shipped in assets/fonts (matplotlib falls back to it glyph by
glyph), so Chinese figures draw the same offline on any machine.
"""

import matplotlib
from matplotlib import font_manager

from necklab import ASSETS

matplotlib.use("Agg")

CJK_FONT = ASSETS / "fonts" / "NeckLabSansSC-Regular.otf"
font_manager.fontManager.addfont(str(CJK_FONT))
CJK_FAMILY = font_manager.FontProperties(fname=str(CJK_FONT)).get_name()
# Latin from DejaVu, Chinese from the subset (per glyph). Artists that pick their own family
# (networkx's labels default to "sans-serif") are given this list.
FONT_FAMILY = ["DejaVu Sans", CJK_FAMILY]
matplotlib.rcParams["font.family"] = FONT_FAMILY
