"""PANet's lesson: the short path from fine features to the top level, and FPN vs PANet outputs."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.lab.pyramid import input_levels, level_of
from necklab.lab.words import weights_words
from necklab.viz.graph import OKABE_ITO
from necklab.viz.maps import LABEL_SIZE, TITLE_SIZE, mean_map, overlay_heatmap

LONG_COLOUR, SHORT_COLOUR = OKABE_ITO[5], OKABE_ITO[2]  # vermillion, bluish green


@dataclass(frozen=True)
class PathCount:
    """The two routes from the finest level's features to the top output, in layers."""

    long_path: tuple[str, ...]  # up the backbone, then lateral and FPN convs at the top
    short_path: tuple[str, ...]  # lateral at the finest level, then PANet's bottom-up path
    backbone_layers: int  # conv layers inside the backbone between the finest and the top level
    long_layers: int  # backbone_layers + the neck's layers on the long path
    short_layers: int


def path_count(analysis: Analysis, backbone_layers: int) -> PathCount:
    """Count the layers of PANet's two routes in a PAFPN analysis. `backbone_layers` is the number
    of conv layers the backbone runs between the finest and the top input level."""
    topology = analysis.topology
    levels = input_levels(topology)
    fine, top = levels[0], levels[-1]
    long_path = (f"C{top}", f"L{top}", f"F{top}", f"N{top}", f"P{top}")
    short_path = (f"C{fine}", f"L{fine}", f"T{fine}", f"F{fine}",
                  *[f"N{lvl}" for lvl in range(fine + 1, top + 1)], f"P{top}")
    long_layers = backbone_layers + topology.layers_on_path(long_path)
    return PathCount((f"C{fine}", "… backbone …") + long_path, short_path, backbone_layers, long_layers,
                     topology.layers_on_path(short_path))


def path_figure(analysis: Analysis, counts: PathCount, lang: str = "en") -> Figure:
    """Backbone, top-down and bottom-up columns with the long and the short route drawn and counted."""
    levels = input_levels(analysis.topology)
    fine, top = levels[0], levels[-1]
    fig = Figure(figsize=(12, 6.4), layout="constrained")
    ax = fig.add_subplot()
    columns = {"C": 0.0, "F": 1.6, "N": 3.2, "P": 4.6}
    titles = {kind: t(f"panet.col_{name}", lang)
              for kind, name in zip("CFNP", ("backbone", "topdown", "bottomup", "outputs"))}

    def xy(kind: str, lvl: int) -> tuple[float, float]:
        return columns[kind], -(lvl - fine) * 1.2

    for kind, x in columns.items():
        ax.text(x, 1.0, titles[kind], ha="center", fontsize=LABEL_SIZE + 1, fontweight="bold")
        for lvl in levels:
            if kind in "NP" and lvl == fine:
                continue  # the finest level is passed through unchanged: F == N == output
            x0, y0 = xy(kind, lvl)
            ax.add_patch(FancyBboxPatch((x0 - 0.42, y0 - 0.28), 0.84, 0.56, boxstyle="round,pad=0.02",
                                        fc="#f2f2f2", ec="#777777"))
            ax.text(x0, y0, f"{kind}{lvl}", ha="center", va="center", fontsize=LABEL_SIZE + 1)

    def arrow(a: tuple[float, float], b: tuple[float, float], colour: str, width: float, rad: float = 0.0,
              style: str = "-") -> None:
        ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=16, color=colour, lw=width,
                                     linestyle=style, shrinkA=16, shrinkB=16, connectionstyle=f"arc3,rad={rad}"))

    grey = "#999999"
    for lvl in levels:
        arrow(xy("C", lvl), xy("F", lvl), grey, 1.2)
        if lvl != fine:
            arrow(xy("F", lvl), xy("N", lvl), grey, 1.2)
            arrow(xy("N", lvl), xy("P", lvl), grey, 1.2)
    for lvl in levels[1:]:
        arrow(xy("C", lvl - 1), xy("C", lvl), grey, 1.2)
        arrow(xy("F", lvl), xy("F", lvl - 1), grey, 1.2)
        arrow(xy("N", lvl - 1) if lvl - 1 != fine else xy("F", fine), xy("N", lvl), grey, 1.2)
    # The long route: up the whole backbone, then across at the top.
    for lvl in levels[1:]:
        arrow(xy("C", lvl - 1), xy("C", lvl), LONG_COLOUR, 3.0, rad=0.25, style="--")
    arrow(xy("C", top), xy("F", top), LONG_COLOUR, 3.0, rad=0.2, style="--")
    arrow(xy("F", top), xy("N", top), LONG_COLOUR, 3.0, rad=0.2, style="--")
    arrow(xy("N", top), xy("P", top), LONG_COLOUR, 3.0, rad=0.2, style="--")
    # The short route: across at the finest level, then up PANet's bottom-up path.
    arrow(xy("C", fine), xy("F", fine), SHORT_COLOUR, 3.0, rad=-0.2)
    previous = xy("F", fine)
    for lvl in levels[1:]:
        arrow(previous, xy("N", lvl), SHORT_COLOUR, 3.0, rad=-0.2)
        previous = xy("N", lvl)
    arrow(previous, xy("P", top), SHORT_COLOUR, 3.0, rad=-0.2)
    ax.plot([], [], color=LONG_COLOUR, lw=3, ls="--",
            label=t("panet.long", lang, layers=counts.long_layers, backbone=counts.backbone_layers))
    ax.plot([], [], color=SHORT_COLOUR, lw=3, label=t("panet.short", lang, layers=counts.short_layers))
    ax.plot([], [], color=grey, lw=1.2, label=t("panet.other", lang))
    ax.legend(loc="lower left", fontsize=LABEL_SIZE, frameon=False)
    ax.set_xlim(-0.8, 5.4)
    ax.set_ylim(-(top - fine) * 1.2 - 1.6, 1.4)
    ax.axis("off")
    ax.set_title(t("panet.title", lang, fine=fine, top=top, long=counts.long_layers, short=counts.short_layers),
                 fontsize=TITLE_SIZE)
    return fig


def outputs_figure(analyses: Sequence[Analysis], names: Sequence[str], lang: str = "en") -> Figure:
    """Each analysis's outputs (one row each, e.g. FPN and PANet) as mean heatmaps on the picture."""
    cols = max(len(a.outputs) for a in analyses)
    fig = Figure(figsize=(3.4 * cols, 3.2 * len(analyses) + 0.6), layout="constrained")
    axes = fig.subplots(len(analyses), cols, squeeze=False)
    for row, (analysis, name) in enumerate(zip(analyses, names)):
        for col, out in enumerate(analysis.outputs):
            ax = axes[row][col]
            level = level_of(analysis.topology.node(out))
            x = analysis.trace[out]
            im = overlay_heatmap(ax, analysis.picture, mean_map(x), analysis.grid(level))
            ax.set_title(t("panet.output_title", lang, name=name, out=out, stride=2 ** level,
                           shape="×".join(map(str, x.shape[1:]))), fontsize=LABEL_SIZE)
            fig.colorbar(im, ax=ax, shrink=0.75).ax.tick_params(labelsize=LABEL_SIZE - 3)
            ax.set_xlabel("")
            ax.set_ylabel("")
        for ax in axes[row][len(analysis.outputs):]:
            ax.axis("off")
    shown = t("step.sep", lang).join(t("panet.row_weights", lang, name=name, weights=weights_words(a.weights, lang))
                                     for a, name in zip(analyses, names))
    fig.suptitle(t("panet.outputs_suptitle", lang, weights=shown), fontsize=TITLE_SIZE)
    return fig
