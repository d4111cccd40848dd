"""Training the necks: targets that follow the size-to-level rule, a decoder that inverts them,
COCO AP and mIoU on known answers, a tiny run that lowers the loss, and weights that refuse to load
when they do not match."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from necklab.lab import analysis as lab
from necklab.models.head import CLASS_NAMES, SIZE_PER_STRIDE, Detections, LevelOutput, assign_level, decode
from necklab.models.registry import NECKS
from necklab.models.weights import FRESH, TRAINED, WeightsUnavailable, load_into, trained_weights
from necklab.train.cutouts import CLASSES
from necklab.train.detect import BACKGROUND, IGNORED, centreness, level_targets
from necklab.train.evaluate import coco_ap, mean_iou
from necklab.train.features import scene_features
from necklab.train.scenes import SceneSet
from necklab.train.trainer import Plan, fit, fresh_model, losses_of
from necklab.train.zoo import default_config, save_state, trainable

PICTURE = (320, 320)


def test_the_heads_answer_the_scenes_classes():
    assert tuple(c.name for c in CLASSES) == CLASS_NAMES


@pytest.mark.parametrize("size, levels, expected", [
    (12, [3, 4, 5, 6, 7], 3), (16, [3, 4, 5, 6, 7], 3), (31.9, [3, 4, 5, 6, 7], 3), (32, [3, 4, 5, 6, 7], 4),
    (100, [3, 4, 5, 6, 7], 5), (190, [3, 4, 5, 6, 7], 6), (12, [2, 3, 4, 5, 6], 2), (8, [2, 3, 4, 5, 6], 2),
    (600, [2, 3, 4, 5, 6], 6), (50, [5], 5), (50, [3, 4, 5], 4)])
def test_a_level_answers_sizes_two_to_four_strides(size, levels, expected):
    assert assign_level(size, levels) == expected
    if min(levels) < expected < max(levels):
        assert SIZE_PER_STRIDE[0] <= size / 2 ** expected < SIZE_PER_STRIDE[1]


def test_targets_mark_the_assigned_level_only():
    boxes = torch.tensor([[100.0, 100, 124, 124], [10, 200, 160, 300]])  # sizes 24 (→ P3) and 122 (→ P5)
    labels = torch.tensor([1, 3])
    levels = [3, 4, 5, 6, 7]
    found = {lvl: level_targets(boxes, labels, torch.zeros(0, 4), lvl, levels, (PICTURE[0] >> lvl,) * 2, PICTURE)
             for lvl in levels}
    assert set(found[3].classes.unique().tolist()) == {BACKGROUND, 1}
    assert set(found[5].classes.unique().tolist()) == {BACKGROUND, 3}
    assert all((found[lvl].classes == BACKGROUND).all() for lvl in (4, 6, 7))
    # the cell under the small object's centre (112, 112) is positive, with its true distances
    row = col = int(112 // 8)
    assert found[3].classes[row, col] == 1
    cx = cy = (col + 0.5) * 8
    assert found[3].distances[row, col].tolist() == [cx - 100, cy - 100, 124 - cx, 124 - cy]
    # only cells inside the box and within 1.5 cells of its centre
    rows, cols = torch.nonzero(found[3].classes == 1, as_tuple=True)
    assert ((rows.float() + 0.5) * 8 - 112).abs().max() <= 12 and ((cols.float() + 0.5) * 8 - 112).abs().max() <= 12


def test_an_ignored_region_is_neither_positive_nor_negative():
    ignore = torch.tensor([[0.0, 0, 64, 64]])
    found = level_targets(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long), ignore, 3, [3], (40, 40), PICTURE)
    assert (found.classes[:8, :8] == IGNORED).all() and (found.classes[8:, :] == BACKGROUND).all()


def test_a_tiny_object_still_gets_its_centre_cell():
    boxes = torch.tensor([[101.0, 101, 105, 105]])  # 4 px: no cell centre (every 8 px from 4) inside
    found = level_targets(boxes, torch.tensor([2]), torch.zeros(0, 4), 3, [3, 4], (40, 40), PICTURE)
    assert (found.classes == 2).sum() == 1 and found.classes[12, 12] == 2
    assert (found.distances[12, 12] > 0).all()


def perfect_outputs(boxes: torch.Tensor, labels: torch.Tensor, levels: list[int]) -> list[LevelOutput]:
    """What a perfect head would say: the target class certain at every positive cell, the target
    distances, centre-ness as the targets'."""
    outputs = []
    for lvl in levels:
        side = PICTURE[0] >> lvl
        target = level_targets(boxes, labels, torch.zeros(0, 4), lvl, levels, (side, side), PICTURE)
        logits = torch.full((1, len(CLASS_NAMES), side, side), -20.0)
        positive = target.classes >= 0
        rows, cols = torch.nonzero(positive, as_tuple=True)
        logits[0, target.classes[positive], rows, cols] = 20.0
        ctr = torch.full((1, side, side), -20.0)
        ctr[0, positive] = torch.logit(centreness(target.distances[positive]).clamp(1e-4, 1 - 1e-4))
        outputs.append(LevelOutput(lvl, logits, target.distances.permute(2, 0, 1)[None].clamp(min=1e-3), ctr))
    return outputs


def test_decoding_perfect_outputs_gives_back_the_boxes_from_their_levels():
    boxes = torch.tensor([[100.0, 100, 124, 124], [10, 150, 170, 300], [200, 20, 260, 60]])
    labels = torch.tensor([1, 3, 0])
    found = decode(perfect_outputs(boxes, labels, [3, 4, 5, 6, 7]), PICTURE)
    assert len(found) == 3
    order = found.boxes[:, 0].argsort()
    assert torch.allclose(found.boxes[order], boxes[boxes[:, 0].argsort()], atol=1e-3)
    by_x = dict(zip(found.boxes[:, 0].round().tolist(), zip(found.labels.tolist(), found.levels.tolist())))
    assert by_x == {100.0: (1, 3), 10.0: (3, 6), 200.0: (0, 4)}  # sizes 24, 155, 49


def test_coco_ap_of_the_truth_is_100_and_of_nothing_0():
    boxes = [torch.tensor([[10.0, 10, 20, 20], [50, 50, 150, 150]]), torch.tensor([[0.0, 0, 60, 60]])]
    labels = [torch.tensor([0, 1]), torch.tensor([2])]
    ignore = [torch.zeros(0, 4), torch.zeros(0, 4)]
    truth = [Detections(b, torch.ones(len(b)), lab_, torch.full((len(b),), 3)) for b, lab_ in zip(boxes, labels)]
    perfect = coco_ap(truth, boxes, labels, ignore, len(CLASS_NAMES))
    assert perfect["AP"] == 100.0 and perfect["AP_S"] == 100.0 and perfect["AP_M"] == 100.0 and perfect["AP_L"] == 100.0
    wrong_class = [Detections(d.boxes, d.scores, (d.labels + 1) % 4, d.levels) for d in truth]
    assert coco_ap(wrong_class, boxes, labels, ignore, len(CLASS_NAMES))["AP"] == 0.0
    empty = [Detections(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.long), torch.zeros(0))] * 2
    assert coco_ap(empty, boxes, labels, ignore, len(CLASS_NAMES))["AP"] == 0.0


def test_mean_iou_counts_classes_and_leaves_ignored_pixels_out():
    truth = torch.tensor([[0, 0, 1, 1], [0, 0, 255, 255]], dtype=torch.uint8)
    assert mean_iou(truth.clone().masked_fill(truth == 255, 2), truth, 3)["mIoU"] == 100.0
    half = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 1]], dtype=torch.uint8)
    result = mean_iou(half, truth, 3)
    assert result["IoU_0"] == pytest.approx(100 * 4 / 5) and result["IoU_1"] == pytest.approx(100 * 1 / 2)


@pytest.fixture(scope="module")
def shape_scenes(tmp_path_factory):
    from tests.test_scenes import drawn_library  # drawn cut-outs: no data package needed
    return scene_features(SceneSet("train", 8, cutouts=drawn_library()), folder=tmp_path_factory.mktemp("features"))


@pytest.mark.parametrize("name", ["fpn", "aspp"])
def test_a_tiny_run_lowers_the_loss(shape_scenes, name):
    model = fresh_model(name, default_config(name))
    everything = torch.arange(len(shape_scenes))
    with torch.no_grad():
        before = float(losses_of(model.train(), shape_scenes, everything)["total"])
    run = fit(model, shape_scenes, Plan(steps=25, batch=8, lr=3e-3, warmup=3))
    with torch.no_grad():
        after = float(losses_of(model.train(), shape_scenes, everything)["total"])
    model.eval()
    assert run.stopped == "steps" and len(run.losses) == 25
    assert after < 0.8 * before, (before, after)


def test_a_run_stops_when_cancelled(shape_scenes):
    calls = []
    run = fit(fresh_model("sppf", default_config("sppf")), shape_scenes, Plan(steps=10, batch=2),
              cancelled=lambda: calls.append(1) or len(calls) > 3)
    assert run.stopped == "cancelled" and len(run.losses) == 3


def test_frozen_backbone_copy_stays_as_it_was(shape_scenes):
    model = fresh_model("rfp", default_config("rfp"))
    frozen = {k: v.clone() for k, v in model.state_dict().items() if model.is_frozen(k)}
    feedback = {k: v.clone() for k, v in model.state_dict().items() if ".rfp_conv." in k}
    assert frozen and feedback and all(".rfp_conv." not in k for k in frozen)
    fit(model, shape_scenes, Plan(steps=2, batch=2, warmup=1))
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in frozen.items())  # BN statistics included
    assert any(not torch.equal(state[k], v) for k, v in feedback.items())  # the zero-init feedback learns


# -- shipping and loading --------------------------------------------------------------------------

def shipped(tmp_path: Path, name: str = "sppf") -> Path:
    """A weights folder with one neck's (fresh) tensors and its manifest entry."""
    from necklab.models.weights import sha256
    from necklab.train.zoo import write_manifest
    model = fresh_model(name, default_config(name))
    save_state(model, tmp_path / f"{name}.pt")
    write_manifest(tmp_path, {name: {"config": default_config(name), "file": f"{name}.pt", "task": "detect",
                                     "sha256": sha256(tmp_path / f"{name}.pt"), "metrics": {"AP": 1.0}}})
    return tmp_path


def test_weights_load_after_their_checks(tmp_path):
    folder = shipped(tmp_path)
    found = trained_weights("sppf", default_config("sppf"), folder)
    model = fresh_model("sppf", default_config("sppf"), seed=5)
    load_into(model, found.state, model.is_frozen)
    reference = fresh_model("sppf", default_config("sppf"))
    assert all(torch.equal(v, reference.state_dict()[k].half().float()) for k, v in model.state_dict().items())
    assert json.loads((folder / "manifest.json").read_text())["classes"] == list(CLASS_NAMES)


@pytest.mark.parametrize("spoil, reason", [
    ("config", "other_config"), ("neck", "none_for_neck"), ("missing", "missing_file"), ("bytes", "bad_hash"),
    ("garbage", "unreadable"), ("shape", "mismatch")])
def test_weights_refuse_with_a_reason(tmp_path, spoil, reason):
    from necklab.models.weights import _load, sha256
    _load.cache_clear()
    folder = shipped(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    entry = manifest["necks"]["sppf"]
    config, name = default_config("sppf"), "sppf"
    if spoil == "config":
        config = {"kernel_size": 3}
    elif spoil == "neck":
        name = "bifpn"
    elif spoil == "missing":
        (folder / "sppf.pt").unlink()
    elif spoil == "bytes":
        (folder / "sppf.pt").write_bytes((folder / "sppf.pt").read_bytes()[:-7] + b"spoiled")
    elif spoil == "garbage":
        (folder / "sppf.pt").write_bytes(b"not a torch file")
        entry["sha256"] = sha256(folder / "sppf.pt")
    elif spoil == "shape":
        torch.save({"neck.cv1.conv.weight": torch.zeros(1)}, folder / "sppf.pt")
        entry["sha256"] = sha256(folder / "sppf.pt")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WeightsUnavailable) as caught:
        found = trained_weights(name, config, folder)
        model = fresh_model("sppf", default_config("sppf"))
        load_into(model, found.state, model.is_frozen)
    assert caught.value.reason == reason


def test_unavailable_weights_give_fresh_ones_and_say_why(chelsea, monkeypatch):
    def refuse(name, config):
        raise WeightsUnavailable("bad_hash")
    monkeypatch.setattr(lab, "trained_weights", refuse)
    analysis = lab.analyse(chelsea, "pafpn", {"num_outs": 4}, seed=3)  # a configuration no cache holds
    assert analysis.weights == lab.Weights(FRESH, "bad_hash") and analysis.answers is None
    fresh = lab.analyse(chelsea, "pafpn", {"num_outs": 4}, seed=3, weights=FRESH)
    assert all(torch.equal(analysis.trace[n], fresh.trace[n]) for n in analysis.outputs)


# -- the shipped weights ---------------------------------------------------------------------------

def test_every_trainable_neck_ships_weights_at_its_tab_defaults():
    from necklab.models.weights import WEIGHTS_DIR, read_manifest, sha256
    manifest = read_manifest()
    assert sorted(manifest) == sorted(trainable()) and "spp" not in manifest
    total = 0
    for name, entry in manifest.items():
        assert entry["config"] == json.loads(json.dumps(default_config(name))), name
        assert entry["task"] == NECKS[name].task and entry["seed"] == 0 and entry["steps"] > 0
        assert sha256(WEIGHTS_DIR / entry["file"]) == entry["sha256"]
        total += (WEIGHTS_DIR / entry["file"]).stat().st_size
        key = "mIoU" if entry["task"] == "segment" else "AP"
        assert entry["metrics"][key] > entry["fresh_metrics"][key] + 5, name
    assert total <= 30 * 1024 * 1024


@pytest.fixture(scope="module")
def held_out():
    """A fixed held-out subset: the first 24 val scenes of the real data."""
    return scene_features(SceneSet("val", 24))


@pytest.mark.slow
@pytest.mark.parametrize("name", trainable())
def test_a_shipped_neck_beats_its_fresh_weights_on_held_out_scenes(held_out, name):
    from necklab.train.trainer import evaluate
    model = lab.model_on(name, default_config(name), "cpu")
    assert model.weights.shown == TRAINED and model.head is not None
    fresh = fresh_model(name, default_config(name))
    trained_score, fresh_score = evaluate(model.head, held_out), evaluate(fresh, held_out)
    key = "mIoU" if NECKS[name].task == "segment" else "AP"
    assert trained_score[key] > fresh_score[key] + 5, (trained_score, fresh_score)


def test_the_toggle_changes_what_the_tab_shows(chelsea):
    trained = lab.analyse(chelsea, "bifpn")
    fresh = lab.analyse(chelsea, "bifpn", weights=FRESH)
    assert trained.weights.shown == TRAINED and fresh.weights.shown == FRESH
    assert trained.answers is not None and fresh.answers is None
    out = trained.outputs[0]
    assert not torch.equal(trained.trace[out], fresh.trace[out])
    weights = [n for n in trained.trace.extras if "weights" in trained.trace.extras[n]]
    assert weights and not np.allclose(trained.trace.extras[weights[0]]["weights"],
                                       fresh.trace.extras[weights[0]]["weights"])
