"""Effective receptive fields (Luo et al., "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016): how strongly each pixel of the picture moves one
output position of a node, measured as |∂ output(i, j) / ∂ picture| through backbone and neck.

The theoretical receptive field says which pixels *can* reach a cell; the effective one says how
much each of them *does*. Like the paper (and captum's `Saliency` with abs=True, which computes the
same thing) it is the absolute input gradient, here of the node's channel sum at the cell, summed
over the three colour channels; the picture is taken in [0, 1], before the backbone's normalisation.

One call runs backbone and neck once, then one backward per requested node through the kept graph.
Gradients reach intermediate nodes because the forward runs under `tracing(keep_graph=True)`, which
records every node without detaching it. Captum is not used: each attribution call runs its own
forward, so several nodes need either a forward each or the picture repeated into a batch of one
copy per node; for six ASPP nodes on a 2-thread CPU that batched form was about 3× slower at
512×512 and peaked at 10.6 GB instead of 2.6 GB at 1024×1024.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import torch

from necklab.graph.trace import tracing
from necklab.lab.analysis import Analysis, backbone_on, neck_of
from necklab.lab.cache import IDLE_S, LRU
from necklab.lab.cell import nearest_cell, node_grid
from necklab.lab.imaging import Picture
from necklab.models.backbone import normalise
from necklab.models.layers import Neck


def _map_size(analysis: Analysis, node: str) -> tuple[int, int]:
    t = analysis.trace[node]
    if t.dim() != 4:
        raise ValueError(f"node {node!r} is not a feature map (shape {tuple(t.shape)})")
    return t.shape[-2], t.shape[-1]


def effective_receptive_fields(analysis: Analysis, nodes: Sequence[str],
                               cell: tuple[int, int]) -> dict[str, np.ndarray]:
    """H×W map on the analysed picture per node: Σ over colours of |∂ Σ_c node[c, i, j] / ∂ picture|.

    All nodes must be feature maps containing `cell`. The cached backbone and neck of the analysis
    are reused (eval mode; gradients are enabled here even inside an inference-mode caller).
    """
    nodes = list(nodes)
    i, j = cell
    for node in nodes:
        h, w = _map_size(analysis, node)
        if not (0 <= i < h and 0 <= j < w):
            raise ValueError(f"cell {cell} is outside node {node!r}'s {h}×{w} map")
    neck = neck_of(analysis)
    return erf_maps(analysis.picture, analysis.device, [(neck, nodes, cell)])[0]


def erf_maps(picture: Picture, device: str,
             requests: Sequence[tuple[Neck, Sequence[str], tuple[int, int]]]) -> list[dict[str, np.ndarray]]:
    """`effective_receptive_fields` for several (neck, nodes, cell) requests on one picture: the
    backbone runs forward once for all of them (its graph is kept), each neck once, then one
    backward per node. Cells are not checked here."""
    backbone = backbone_on(device)
    names = ["image", *(info.name for info in backbone.feature_info)]
    results: list[dict[str, np.ndarray]] = []
    with torch.inference_mode(False), torch.enable_grad():
        pixels = picture.tensor().to(device).requires_grad_()
        x = normalise(pixels)
        features = dict(zip(names, [x, *backbone.forward_features(x)]))
        for r, (neck, nodes, (i, j)) in enumerate(requests):
            with tracing(keep_graph=True) as trace:
                neck([features[n] for n in neck.input_names])
            maps: dict[str, np.ndarray] = {}
            for k, node in enumerate(nodes):
                target = trace[node][0, :, i, j].sum()
                last = r + 1 == len(requests) and k + 1 == len(nodes)
                (grad,) = torch.autograd.grad(target, pixels, retain_graph=not last)
                maps[node] = grad[0].abs().sum(dim=0).float().cpu().numpy()
            results.append(maps)
    return results


def mass_area(erf: np.ndarray, fraction: float = 0.95) -> tuple[int, float]:
    """The fewest pixels holding `fraction` of the gradient mass, and that as a share of the map's
    area: a single number for how spread out an effective receptive field is. All-zero → (0, 0.0)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    values = np.sort(np.asarray(erf, dtype=np.float64).ravel())[::-1]
    if values[-1] < 0:
        raise ValueError("an effective receptive field is non-negative")
    cumulative = np.cumsum(values)
    if cumulative[-1] <= 0.0:
        return 0, 0.0
    # (1 − 1e-12): a share the cumulative sum reaches only up to round-off still counts as reached
    count = min(int(np.searchsorted(cumulative, fraction * cumulative[-1] * (1 - 1e-12))) + 1, values.size)
    return count, count / values.size


def cell_at(analysis: Analysis, level: int, x_orig: float, y_orig: float) -> tuple[int, int]:
    """The (row, column) of the level's cell whose centre is nearest to a click in original-picture
    pixels (what gr.Image.select reports), clamped to the map."""
    maps = [analysis.trace.tensors.get(n.id) for n in analysis.topology.nodes if n.level == level]
    shapes = [t.shape[-2:] for t in maps if t is not None and t.dim() == 4]
    if not shapes:
        raise ValueError(f"the {analysis.neck_name} trace has no feature map at level {level}")
    rows, cols = shapes[0]
    grid = analysis.grid(level)
    sx, sy = analysis.picture.scale_xy
    # Original pixel-centre coordinate v ↦ analysed (v + ½)·scale − ½ (inverse of necklab.viz.maps.to_original).
    return nearest_cell(grid, rows, cols, (x_orig + 0.5) * sx - 0.5, (y_orig + 0.5) * sy - 0.5)


# Effective receptive fields of clicked cells by recipe, node and cell: a language switch or a second
# look redraws the figure without another backward pass. At most 64 MB (a 1024² map is 4 MB).
_erfs: LRU[Hashable, np.ndarray] = LRU(32, budget=64 * 1024 * 1024, weigh=lambda a: a.nbytes, idle=IDLE_S)


def cell_erf(analysis: Analysis, node_id: str, cell: tuple[int, int]) -> np.ndarray:
    """The cell's effective receptive field (`effective_receptive_fields` of the node at the cell:
    one forward and one backward through backbone and neck on the analysis's device), kept by the
    analysis's recipe where it has one."""
    node_grid(analysis, node_id)  # NoCells for a node without cells

    def make() -> np.ndarray:
        return effective_receptive_fields(analysis, [node_id], cell)[node_id]

    if analysis.recipe is None:  # an edited copy: nothing names it for another session
        return make()
    return _erfs.get_or_make((analysis.recipe, node_id, (int(cell[0]), int(cell[1]))), make)
