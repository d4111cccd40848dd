"""BiFPN's lesson: the fusion weights in views, edited on a copy of the neck, and the panel's handlers
called directly as Gradio calls them."""
from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
import torch

from necklab.lab.analysis import analyse, neck_on, rerun
from necklab.lessons import bifpn as panel
from necklab.models.necks.bifpn import FUSION_EPS, edge_weight_table, with_edge_weights
from necklab.models.registry import NECKS
from necklab.ui.neck_tab import build_neck_tab
from necklab.viz.bifpn import WEIGHT_HEADERS, fusion_nodes, weights_rows
from necklab.widgets.session import Session, SessionBox
from tests.test_zoo import resized

EN = Session()


@pytest.fixture(scope="module")
def analysis():
    return analyse(resized("chelsea.png", 160, 128), "bifpn", weights="fresh")  # the reference's init: raw weights 1


@pytest.fixture(scope="module")
def neck():
    return neck_on("bifpn", {}, "cpu", weights="fresh")


def test_weights_table_has_eight_nodes_per_cell_and_sums_near_one(analysis):
    rows = weights_rows(analysis)
    assert all(len(row) == len(WEIGHT_HEADERS) for row in rows)
    assert [sum(row[0] == k for row in rows) for k in (1, 2, 3)] == [8, 8, 8]
    for row in rows:
        normalised = [float(w) for w in row[4].split(", ")]
        assert len(normalised) == len(row[2].split(", ")) == len(row[3].split(", "))
        assert sum(normalised) == pytest.approx(1, abs=2e-3) and row[5] == pytest.approx(1, abs=1e-3)
        assert row[5] < 1  # the ε in the denominator
    c1_p4out = next(row for row in rows if row[1] == "c1.P4out")
    assert c1_p4out[2:5] == ["C4, c1.P4td, c1.P3out", "1.000, 1.000, 1.000", "0.333, 0.333, 0.333"]


def test_edited_weights_change_the_computation(analysis, neck):
    edited = rerun(analysis, with_edge_weights(neck, {"c2.P5td": [1, 0]}))
    extras = edited.trace.extras["c2.P5td"]
    assert extras["raw_weights"].tolist() == [1, 0]
    # the node now fuses its first input alone: after_combine of that input times 1/(1 + ε)
    after_combine = dict(neck.fusions())["c2.P5td"].after_combine
    with torch.no_grad():
        expected = after_combine(extras["resampled"][0] / (1 + FUSION_EPS))
    assert torch.allclose(edited.trace["c2.P5td"], expected, atol=1e-6)
    assert not torch.allclose(analysis.trace["c2.P5td"], expected, atol=1e-3)
    # nodes before it are untouched, nodes after it change
    assert torch.equal(edited.trace["c2.P6td"], analysis.trace["c2.P6td"])
    assert not torch.allclose(edited.trace["c3.P3out"], analysis.trace["c3.P3out"])


def test_editing_leaves_the_shared_model_untouched(neck):
    before = {k: v.clone() for k, v in neck.state_dict().items()}
    rng = torch.random.get_rng_state()
    hook = neck.register_forward_pre_hook(lambda *_: None)  # as a concurrent traced run has
    try:
        copy = with_edge_weights(neck, {"c1.P4out": [2.0, 0.5, 0.0]})
    finally:
        hook.remove()
    assert not copy._forward_pre_hooks and torch.equal(torch.random.get_rng_state(), rng)
    assert edge_weight_table(copy)["c1.P4out"] == [2.0, 0.5, 0.0]
    assert all(torch.equal(v, before[k]) for k, v in neck.state_dict().items())
    assert set(edge_weight_table(neck)["c1.P4out"]) == {1.0}
    assert neck_on("bifpn", {}, "cpu", weights="fresh") is neck
    with pytest.raises(KeyError, match="not a fusion node"):
        with_edge_weights(neck, {"P6": [1.0]})
    with pytest.raises(ValueError, match="fuses 2 inputs"):
        with_edge_weights(neck, {"c1.P6td": [1.0, 1.0, 1.0]})


def test_module_weights_rerun_bit_exactly(analysis, neck):
    again = rerun(analysis, with_edge_weights(neck, edge_weight_table(neck)))
    assert again.trace.order == analysis.trace.order
    assert all(torch.equal(again.trace[n], analysis.trace[n]) for n in analysis.trace.order)


def is_image(picture) -> bool:
    return picture.ndim == 3 and picture.shape[2] == 3 and picture.dtype == np.uint8 and picture.std() > 5


@pytest.mark.slow
def test_panel_handlers(analysis):
    view = panel.panel_views(EN, analysis, {}, None, None)
    cell, graph, table, node, fused, text, edits, shown = (view.cell, view.graph, view.table, view.node, view.fused,
                                                           view.status, view.edits, view.shown)
    w0, w1, w2 = view.weights
    assert cell.value == "1" and [c[0] for c in cell.choices] == ["1", "2", "3"]
    assert node.value == "c1.P6td" and [c[0] for c in node.choices] == fusion_nodes(analysis, 1)
    assert is_image(graph) and is_image(fused) and graph.shape[1] > 1000
    assert len(table) == 24 and edits == {} and shown is analysis and "module's weights" in text
    assert (w0.value, w1.value, w2.visible) == (1.0, 1.0, False)

    applied = panel.apply_weights(EN, analysis, edits, "2", "c2.P5td", 1.0, 0.0, 2.0)
    graph2, rows, fused2, text, edits, shown = (applied.graph, applied.table, applied.fused, applied.status,
                                                applied.edits, applied.shown)
    assert edits == {"c2.P5td": [1.0, 0.0]} and "c2.P5td" in text
    assert next(r for r in rows if r[1] == "c2.P5td")[3:5] == ["1.000, 0.000", "1.000, 0.000"]
    assert is_image(graph2) and is_image(fused2) and not np.array_equal(graph2, graph)
    w0, w1, w2 = panel.node_view(EN, shown, "c2.P5td").weights
    assert (w0.value, w1.value, w2.visible) == (1.0, 0.0, False)
    w0, w1, w2 = panel.sliders(shown, "c2.P5out")
    assert w2.visible and "c2.P4out" in w2.label
    chosen = panel.cell_view(EN, shown, "3")
    assert chosen.node.value == "c3.P6td" and is_image(chosen.graph)

    # a new run keeps the edits that still name a node; a cell that is gone falls back to the first
    stale = {"c2.P5td": [1.0, 0.0], "c5.P3out": [1.0, 1.0]}
    view = panel.panel_views(EN, analysis, stale, "5", "c5.P3out")
    assert view.cell.value == "1" and view.edits == {"c2.P5td": [1.0, 0.0]}
    assert torch.equal(view.shown.trace["c3.P7out"], shown.trace["c3.P7out"])

    back = panel.reset_weights(EN, analysis, "2", "c2.P5td")
    assert back.edits == {} and back.shown is analysis and back.table == weights_rows(analysis)
    assert back.weights[1].value == 1.0 and is_image(back.graph) and is_image(back.fused)


def test_panel_builds_inside_its_tab():
    with gr.Blocks() as demo:
        session = gr.State(SessionBox())
        tab = build_neck_tab("BiFPN", [NECKS["bifpn"]], session, lesson=False)
        own = len(tab.after_run)  # the tab's own redraws (the lesson text)
        panel.bifpn_panel(tab)
        tab.finish()
    ids = {getattr(block, "elem_id", None) for block in demo.blocks.values()}
    assert {"bifpn-cell", "bifpn-graph", "bifpn-weights", "bifpn-node", "bifpn-w0", "bifpn-w1", "bifpn-w2",
            "bifpn-apply", "bifpn-reset", "bifpn-fused"} <= ids
    assert len(tab.after_run) == own + 1
