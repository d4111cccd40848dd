"""The app's graph is legible: at every neck's default configuration, in both languages, on every
(sub)graph a step draws, no edge label overlaps another edge label or any node's box (the boxes as
drawn, measured by matplotlib's renderer), and no box hides another."""
from __future__ import annotations

import pytest
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from necklab.lab.analysis import analyse
from necklab.models.registry import NECKS
from necklab.ui.neck_tab import focus, steps_of
from necklab.viz.graph import GraphPicture

SLACK = 0.5  # px: boxes that only touch do not overlap


def drawn_graphs(picture, name: str, lang: str) -> list[GraphPicture]:
    """Every distinct graph the neck's tab draws over its steps (stacked necks draw one per stage)."""
    analysis = analyse(picture, name)
    shapes = {node: tuple(x.shape) for node, x in analysis.trace.tensors.items()}
    subgraphs: list[tuple[str, ...] | None] = []
    for nodes in steps_of(analysis, every=True):
        drawn = focus(analysis.topology, nodes)
        key = tuple(drawn) if drawn else None
        if key not in subgraphs:
            subgraphs.append(key)
    return [GraphPicture(analysis.topology, shapes, nodes, lang=lang) for nodes in subgraphs]


def extent(text: Text, renderer) -> Bbox:
    """What a word covers on the canvas: its box (background patch) where it has one, else itself."""
    patch = text.get_bbox_patch()
    return (patch if patch is not None else text).get_window_extent(renderer)


def overlap(a: Bbox, b: Bbox) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > SLACK and min(a.y1, b.y1) - max(a.y0, b.y0) > SLACK


def clashes(graph: GraphPicture) -> list[str]:
    renderer = graph.canvas.get_renderer()
    boxes = {node: extent(text, renderer) for node, text in graph.boxes.items()}
    labels = [(text.get_text(), extent(text, renderer)) for text in graph.ax.texts
              if text not in graph.boxes.values()]
    found = [f"label {a!r} over node {node}" for a, box in labels for node, nbox in boxes.items()
             if overlap(box, nbox)]
    found += [f"node {a} over node {b}" for i, (a, box) in enumerate(boxes.items())
              for b, other in list(boxes.items())[i + 1:] if overlap(box, other)]
    found += [f"label {a!r} over label {b!r}" for i, (a, box) in enumerate(labels)
              for b, other in labels[i + 1:] if overlap(box, other)]
    return found


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("name", list(NECKS))
def test_edge_labels_clear_of_boxes_and_of_each_other(chelsea, name, lang):
    for graph in drawn_graphs(chelsea, name, lang):
        assert not clashes(graph), (graph.title, clashes(graph))
