"""EfficientNet-Lite0: real weights, level shapes for any size, ImageNet predictions, RF grid."""
from __future__ import annotations

import pytest
import torch

from necklab.i18n import class_names
from necklab.lab.analysis import run_backbone
from necklab.lab.imaging import decode
from necklab.lab.words import top_classes
from necklab.models.backbone import EfficientNetLite0, build_backbone, load_state_dict, normalise, same_pad
from tests.conftest import SAMPLES


def test_every_weight_of_the_file_is_loaded(backbone):
    state = load_state_dict()
    own = backbone.state_dict()
    assert set(own) == set(state)
    assert all(torch.equal(own[k], state[k]) for k in state)


def test_feedback_variant_loads_the_same_weights_and_zero_feedback():
    model = build_backbone(feedback_channels=64)
    feedback = [n for n, _ in model.named_parameters() if "rfp_conv" in n]
    assert len(feedback) == 6  # weight + bias at strides 8, 16, 32
    assert all(float(p.detach().abs().sum()) == 0 for n, p in model.named_parameters() if "rfp_conv" in n)


def test_feature_info_matches_the_levels():
    info = EfficientNetLite0().feature_info
    assert [(i.name, i.stride, i.channels) for i in info] == [
        ("C1", 2, 16), ("C2", 4, 24), ("C3", 8, 40), ("C4", 16, 112), ("C5", 32, 320)]


@pytest.mark.parametrize("h, w", [(333, 517), (32, 32), (224, 224), (97, 33)])
def test_level_shapes_are_ceil_of_size_over_stride(backbone, h, w):
    with torch.inference_mode():
        feats = backbone.forward_features(torch.zeros(1, 3, h, w))
    for f, info in zip(feats, backbone.feature_info):
        s = info.stride
        assert tuple(f.shape) == (1, info.channels, -(-h // s), -(-w // s))


def test_tf_same_padding():
    assert same_pad(224, 3, 2) == (0, 1)
    assert same_pad(225, 3, 2) == (1, 1)
    assert same_pad(224, 5, 2) == (1, 2)
    assert same_pad(7, 3, 1) == (1, 1)


@pytest.mark.parametrize("name, index, label", [("chelsea.png", 285, "Egyptian cat"), ("coffee.png", 967, "espresso")])
def test_imagenet_top1(name, index, label):
    top5 = run_backbone(decode(SAMPLES / name)).top5
    assert top5[0][:2] == (index, label)
    assert top5[0][2] > 0.5


def test_the_chinese_class_names_fit_the_english_list():
    en, zh = class_names("en"), class_names("zh")
    assert len(en) == len(zh) == 1000 and all(zh)
    # Two classes share a Chinese name only where they share the English one.
    shared = {name for name in zh if zh.count(name) > 1}
    assert all(len({en[i] for i, name in enumerate(zh) if name == n}) == 1 for n in shared)
    assert (zh[285], zh[967]) == ("埃及猫", "浓缩咖啡")


def test_the_top5_is_named_in_the_chosen_language(chelsea):
    top5 = run_backbone(chelsea).top5
    zh, en = top_classes(top5, "zh"), top_classes(top5, "en")
    assert next(iter(zh)) == "埃及猫" and next(iter(en)) == "Egyptian cat"
    assert list(zh.values()) == list(en.values()) == [p for *_, p in top5]


def test_forward_is_deterministic(backbone):
    x = normalise(torch.rand(1, 3, 65, 80, generator=torch.Generator().manual_seed(1)))
    with torch.inference_mode():
        a = backbone.forward_features(x)
        b = backbone.forward_features(x)
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_cell_grid_follows_the_same_padding(chelsea):
    grids = run_backbone(chelsea).grids
    # Stem 3×3 s2 on 300 rows: SAME pads 0 before, so cell 0 is centred on pixel 1; then a 3×3 s1.
    assert (grids["C1"].jump, grids["C1"].start_y, grids["C1"].rf_size) == (2, 1.0, 7)
    assert [grids[f"C{i}"].jump for i in range(1, 6)] == [2, 4, 8, 16, 32]
    assert grids["C5"].rf_size > grids["C4"].rf_size > grids["C3"].rf_size
