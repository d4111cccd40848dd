"""Merging-cell designs: NAS-FPN's stage reproduced exactly, every bad design refused with its
message, mutations that stay legal, JSON that round-trips, and designs that run on real features."""
from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager

import networkx as nx
import pytest
import torch

from necklab.lab.analysis import analyse
from necklab.lab.playground import mutate
from necklab.lab.words import refusal_text
from necklab.models.cell_design import (
    FPN_CELLS,
    NAS_FPN,
    PANET_CELLS,
    PRESETS,
    CellSpec,
    Design,
    DesignError,
    from_json,
    from_rows,
)
from necklab.models.necks.nasfpn import NASFPN
from necklab.models.registry import NECKS, build_neck, neck_parameters
from necklab.ui.playground_tab import preset_notes

# mmdetection's nas_fpn.py stage with its own keys: (name, input 1, input 2, key written). Keys p4_1,
# p4_2, p5_tmp, p7_tmp are temporaries; p3…p7 are overwritten and carry into the next stage.
MMDET_STAGE = (("gp_64_4", "p6", "p4", "p4_1"), ("sum_44_4", "p4_1", "p4", "p4_2"),
               ("sum_43_3", "p4_2", "p3", "p3"), ("sum_34_4", "p3", "p4_2", "p4"),
               ("gp_43_5", "p4", "p3", "p5_tmp"), ("sum_55_5", "p5", "p5_tmp", "p5"),
               ("gp_54_7", "p5", "p4_2", "p7_tmp"), ("sum_77_7", "p7", "p7_tmp", "p7"),
               ("gp_75_6", "p7", "p5", "p6"))


def mmdet_edges(stages: int) -> set[tuple[str, str]]:
    """The graph's edges as mmdet's key overwriting wires them, independently of cell_design."""
    holder = {"p3": "L3", "p4": "L4", "p5": "L5", "p6": "P6", "p7": "P7"}
    edges = {("C3", "L3"), ("C4", "L4"), ("C5", "L5"), ("L5", "P6"), ("P6", "P7")}
    for k in range(1, stages + 1):
        for name, a, b, out in MMDET_STAGE:
            edges |= {(holder[a], f"s{k}.{name}"), (holder[b], f"s{k}.{name}")}
            holder[out] = f"s{k}.{name}"
    return edges


def design(*cells: tuple) -> Design:
    return Design(tuple(CellSpec(*c) for c in cells))


def test_nas_fpn_design_is_the_zoo_neck_graph_and_parameters():
    spec = NECKS["nasfpn"]
    with torch.device("meta"):
        zoo = build_neck("nasfpn", seed=None, **spec.reference_config)
        ours = NASFPN(**spec.reference_config, design=from_json(NAS_FPN.to_json()))
    assert neck_parameters(ours) == neck_parameters(zoo) == spec.reference_params == 29_990_144
    graph = ours.topology.graph()
    assert nx.utils.graphs_equal(graph, zoo.topology.graph())
    assert set(graph.edges) == mmdet_edges(7)
    assert ours.topology.outputs == ("s7.sum_43_3", "s7.sum_34_4", "s7.sum_55_5", "s7.gp_75_6", "s7.sum_77_7")
    assert [c.name for c in NAS_FPN.stage_cells()] == [name for name, *_ in MMDET_STAGE]
    assert [c.with_out_conv for c in NAS_FPN.stage_cells()] == [True] * 4 + [False, True, False, True, True]


@pytest.mark.parametrize("cells, message", [
    ((), "no cells"),
    ((("sum", "P4", "cell 2", 3), ("sum", "P3", "P5", 4)), "Cell 1, input B: cell 2 does not exist yet"),
    ((("sum", "P4", "cell 9", 3),), "Cell 1, input B: cell 9 does not exist (the design has 1 cells)"),
    ((("sum", "P8", "P3", 3),), "Cell 1, input A: P8 is outside P3…P7"),
    ((("sum", "P2", "P3", 3),), "Cell 1, input A: P2 is outside P3…P7"),
    ((("sum", "P4", "P3", 8),), "Cell 1: output level P8 is outside P3…P7"),
    ((("sum", "P4", "P3", 3), ("sum", "P3", "P5", 4)), "No cell writes P5, P6, P7"),
    ((("sum", "P4", "cell 1", 3),), "cell 1 reads its own output — a cycle"),
    ((("sum", "cell 2", "P3", 3), ("sum", "cell 1", "P5", 4)), "makes a cycle (cell 1 → cell 2 → cell 1)"),
    ((("max", "P4", "P3", 3),), "op 'max' is unknown"),
    ((("sum", "P4", "up", 3),), "'up' is neither a level (P3…P7) nor a cell"),
])
def test_validation_names_each_bad_case(cells, message):
    with pytest.raises(DesignError) as caught:
        design(*cells).validate()
    assert message in refusal_text(caught.value)


@contextmanager
def refused(pattern: str) -> Iterator[None]:
    """Expect a DesignError whose English words match `pattern`."""
    with pytest.raises(DesignError) as caught:
        yield
    assert re.search(pattern, refusal_text(caught.value)), refusal_text(caught.value)


def test_rows_from_the_table_are_read_and_checked():
    rows = [["global pooling", "p7", "p6", "P6"], ["sum", "c1", "P7", "p7", "no"], ["", "", "", ""],
            ["sum", "P4", "P3", "P3"], ["SUM", "cell 3", "P5", "4"], ["sum", "Cell4", "P5", "P5"]]
    d = from_rows(rows)
    assert d.cells == (CellSpec("gp", "P7", "P6", 6), CellSpec("sum", "cell 1", "P7", 7, False),
                       CellSpec("sum", "P4", "P3", 3), CellSpec("sum", "cell 3", "P5", 4),
                       CellSpec("sum", "cell 4", "P5", 5))
    with refused("Row 1: output level 'Px' is not a level"):
        from_rows([["sum", "P3", "P4", "Px"]])
    with refused("Row 2: fill in op, input A, input B and output level"):
        from_rows([["sum", "P3", "P4", "P3"], ["sum", "", "P4", "P4"]])


def test_a_bare_number_is_a_cell_reference():
    with refused("Cell 2, input B: cell 7 does not exist"):
        from_rows([["gp", "P7", "P6", "P6"], ["sum", "cell 1", "7", "P7"]])


@pytest.mark.parametrize("preset", list(PRESETS.values()), ids=list(PRESETS))
def test_mutation_always_yields_a_valid_design_with_one_change(preset):
    for seed in range(200):
        rng = random.Random(seed)
        current = preset
        for _ in range(5):  # chains of mutations stay legal too
            mutated, words = mutate(current, rng)
            mutated.validate()
            changed = [k for k, (a, b) in enumerate(zip(current.cells, mutated.cells), 1) if a != b]
            assert len(changed) == 1 and words.startswith(f"cell {changed[0]}:"), words
            assert "→" in words
            current = mutated


def test_mutation_is_reproducible_per_seed():
    assert mutate(NAS_FPN, random.Random(3)) == mutate(NAS_FPN, random.Random(3))


@pytest.mark.parametrize("preset", list(PRESETS.values()), ids=list(PRESETS))
def test_json_round_trips(preset):
    loaded = from_json(preset.to_json())
    assert loaded.cells == preset.cells and loaded.name == preset.name
    assert from_rows(preset.rows()).cells == preset.cells


def test_json_errors_are_explained():
    with refused("not JSON"):
        from_json("{cells: oops")
    with refused("not a NeckLab cell design"):
        from_json('{"cells": []}')
    bad = NAS_FPN.to_json().replace('"a": "P6"', '"a": "cell 5"')
    cycle = r"Cell 1, input A: reading cell 5 makes a cycle \(cell 1 → cell 5 → cell 3"
    with refused(cycle):
        from_json(bad)


def test_presets_state_where_they_differ_from_their_neck():
    notes = {lang: {d.preset: preset_notes(d, lang) for d in PRESETS.values()} for lang in ("en", "zh")}
    assert "3×3 stride-2 conv" in notes["en"]["panet"] and "max-pool" in notes["en"]["panet"]
    assert "ReLU → 3×3 conv" in notes["en"]["fpn"] and "ReLU → 3×3 卷积" in notes["zh"]["fpn"]
    assert FPN_CELLS.unused() == [] and PANET_CELLS.unused() == [] and NAS_FPN.unused() == []


@pytest.mark.parametrize("preset", [FPN_CELLS, PANET_CELLS], ids=["fpn", "panet"])
def test_a_design_runs_on_real_backbone_features(chelsea, preset):
    mutated, _ = mutate(preset, random.Random(0))
    for d in (preset, mutated):
        analysis = analyse(chelsea, "nasfpn", {"design": d, "stack_times": 2})
        assert analysis.trace.order == analysis.topology.order
        cells = [n for n in analysis.topology.nodes if n.stage is not None]
        assert len(cells) == 2 * len(d.cells)
        shapes = [tuple(analysis.trace[o].shape) for o in analysis.outputs]
        l3 = analysis.trace["L3"].shape
        assert shapes[0] == (1, 64, *l3[-2:])  # P3 keeps the lateral's size
        assert [s[-1] for s in shapes] == sorted((s[-1] for s in shapes), reverse=True)
        assert all(torch.isfinite(analysis.trace[o]).all() for o in analysis.outputs)
        # 1×1 laterals + extras + one 3×3 conv + BN per cell with a conv, per stage
        convs = sum(c.conv for c in d.cells) * 2
        assert analysis.params == (40 + 112 + 320) * 64 + 3 * 128 + 2 * (64 * 64 + 128) + convs * 37_056


def test_messages_and_mutations_in_chinese():
    """Every refusal and every mutation has its words in both languages: `str(e)` stays English,
    `e.text("zh")` is Chinese with the same cell, input and level."""
    with pytest.raises(DesignError) as caught:
        design(("sum", "cell 2", "P3", 3), ("sum", "cell 1", "P5", 4)).validate()
    zh = refusal_text(caught.value, "zh")
    assert zh.startswith("单元 1 的输入 A：读取单元 2 会形成环（cell 1 → cell 2 → cell 1）")
    assert "cycle" not in zh
    assert refusal_text(caught.value).startswith("Cell 1, input A: reading cell 2 makes a cycle")
    with pytest.raises(DesignError) as caught:
        from_rows([["sum", "P3", "P4", "Px"]])
    assert refusal_text(caught.value, "zh") == "第 1 行：输出层级 'Px' 不是像 P4 这样的层级。"
    words = {mutate(NAS_FPN, random.Random(seed), "zh")[1].split("：")[1].split(" ")[0] for seed in range(60)}
    assert words == {"输入", "运算", "去掉合并之后的", "在合并之后加上", "输出层级"}
    assert mutate(NAS_FPN, random.Random(3), "zh")[0] == mutate(NAS_FPN, random.Random(3))[0]
