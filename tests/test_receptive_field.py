"""Receptive-field maths against hand-computed cases."""
from __future__ import annotations

import math

from necklab.graph.receptive_field import GLOBAL, PIXELS, RF, Layer, conv, node_receptive_fields, through, up


def test_stacked_convs():
    assert through([conv(3), conv(3)]) == RF(5, 1, 0)
    assert through([conv(3, 2), conv(3)]) == RF(7, 2, 0)
    assert through([conv(3, 2, pad=0), conv(3, 2, pad=0)]) == RF(7, 4, 3)


def test_dilation_widens_without_striding():
    assert through([conv(3, dilation=12)]) == RF(25, 1, 0)


def test_same_padding_depends_on_the_size():
    # 3×3 s2 SAME on 224 pads (0, 1): cell 0 is centred on pixel 1; on 225 it pads (1, 1).
    assert through([Layer(3, 2, same=True)], size=224).start == 1.0
    assert through([Layer(3, 2, same=True)], size=225).start == 0.0


def test_upsampling_keeps_size_and_centres_copies():
    rf = through([conv(3, 2, pad=0), up(2)])
    assert (rf.size, rf.jump) == (3, 1)
    assert rf.centre(0) + rf.centre(1) == 2 * 1.0  # the two copies straddle the source centre


def test_global_pool_sees_everything():
    assert math.isinf(through([conv(3), GLOBAL]).size)


def test_paths_with_equal_fields_merge_and_different_ones_stay():
    edges = {"a": [("x", (conv(3),))], "b": [("x", (conv(3),)), ("a", (conv(1),))],
             "c": [("b", (conv(1),)), ("x", (conv(5),))]}
    rfs = node_receptive_fields(["x", "a", "b", "c"], edges, {"x": PIXELS})
    assert [p.rf.size for p in rfs["b"]] == [3]  # x→b and x→a→b both see 3 pixels
    assert sorted(p.rf.size for p in rfs["c"]) == [3, 5]
    assert rfs["c"][0].path[0] == "x" and rfs["c"][0].path[-1] == "c"
