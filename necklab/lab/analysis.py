"""The analysis pipeline: picture → backbone levels → neck → one result holding everything views need.

Models are built once and kept (backbone per device, necks per configuration and device); the
backbone's features are cached per picture, so changing the neck or its configuration reruns
only the neck.
"""
from __future__ import annotations

import os
import time
import uuid
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar, cast

import networkx as nx
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from necklab.graph import receptive_field as rfm
from necklab.graph.topology import Topology
from necklab.graph.trace import Trace, active, tracing
from necklab.lab.cache import IDLE_S, LRU
from necklab.lab.imaging import Picture
from necklab.models.backbone import EfficientNetLite0, LevelInfo, build_backbone, normalise, top_k
from necklab.models.head import CLASS_NAMES, Detections, LevelOutput, NeckWithHead, SegmentationHead, decode
from necklab.models.layers import Neck, seeded
from necklab.models.registry import NECKS, build_neck, neck_parameters
from necklab.models.weights import FRESH, TRAINED, WeightsUnavailable, load_into, trained_weights

M = TypeVar("M", bound=nn.Module)
CLASSIFIER_SIZE = 224  # Lite0's training resolution: the top-5 is computed on a resized copy


def available_devices() -> list[str]:
    """Devices that exist here, CPU first."""
    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


@dataclass(frozen=True)
class CellGrid:
    """Where the cells of a feature map sit on the analysed picture: cell (i, j) is centred at
    (start_y + i·jump, start_x + j·jump) in analysed-pixel coordinates and spans one jump."""

    jump: float
    start_y: float
    start_x: float
    rf_size: float  # theoretical receptive field of one cell, in analysed pixels


@dataclass
class BackboneResult:
    features: dict[str, Tensor]  # "image" (normalised picture) and C1…C5, on the analysis device
    info: list[LevelInfo]
    grids: dict[str, CellGrid]  # per level C1…C5
    top5: list[tuple[int, str, float]]
    flops: int
    seconds: float


@dataclass(frozen=True)
class Recipe:
    """What makes an analysis: the same recipe makes the same analysis, so sessions share it."""

    picture: str  # Picture.key
    neck: str
    config: tuple[tuple[str, Any], ...]  # the configuration's items, sorted
    device: str
    seed: int
    weights: str = TRAINED  # asked for: TRAINED or FRESH


@dataclass(frozen=True)
class Weights:
    """Which weights an analysis shows: TRAINED or FRESH (seeded initialisation); when trained
    weights were asked for and cannot be shown, `reason` says why (a key under `weights.`);
    `metrics` are the trained weights' held-out scores from their manifest."""

    shown: str = FRESH
    reason: str = ""
    metrics: tuple[tuple[str, float], ...] = ()


@dataclass
class Answers:
    """What the trained head says on the analysed picture (computed once, with the analysis): every
    detection above DETECTION_FLOOR, each level's per-class score map (K×H×W), or for segmentation
    the class probabilities (1+K×H×W at the neck's output size, background first)."""

    detections: Detections | None = None
    heatmaps: dict[int, Tensor] = field(default_factory=dict)
    segmentation: Tensor | None = None


DETECTION_FLOOR = 0.05  # the lowest score kept; views filter higher with their threshold


@dataclass(frozen=True)
class AnalysisRef:
    """What a session keeps of an analysis: its key among the kept analyses, and its recipe to
    make it again if it was dropped to make room (None: it cannot be, e.g. an edited copy)."""

    key: str
    recipe: Recipe | None


@dataclass
class Analysis:
    picture: Picture
    device: str
    backbone: BackboneResult
    neck_name: str
    config: dict[str, Any]
    topology: Topology
    trace: Trace  # every node's tensor on the CPU, in execution order
    outputs: list[str]
    params: int
    flops: int
    timings: dict[str, float] = field(default_factory=dict)
    node_params: dict[str, int] = field(default_factory=dict)  # parameters of the op that made each node
    seed: int = 0  # the neck's initialisation seed: reruns (ERF, edits) fetch the same model with it
    weights: Weights = field(default_factory=Weights)
    answers: Answers | None = None  # the head's, when the neck has trained weights here
    recipe: Recipe | None = None  # how to make it again (None: a rerun with other weights cannot be)
    _extra_grids: dict[int, CellGrid] = field(default_factory=dict, repr=False)
    _kept_as: str = field(default="", repr=False)  # its key among the kept analyses, once kept

    @property
    def nbytes(self) -> int:
        """The memory its tensors hold (every node's map and the extras; the backbone's features are
        shared with the backbone cache and not counted)."""
        tensors = [*self.trace.tensors.values(),
                   *(v for extras in self.trace.extras.values() for v in extras.values() if isinstance(v, Tensor))]
        if self.answers is not None:
            tensors += [*self.answers.heatmaps.values(), *([self.answers.segmentation]
                                                           if self.answers.segmentation is not None else [])]
        return sum(t.numel() * t.element_size() for t in tensors)

    @property
    def title(self) -> str:
        """What pages and figures call the analysed neck: its title in the registry ('PANet (PAFPN)'),
        or the name of the playground design it runs — never a code name ('pafpn')."""
        return str(self.topology.extras.get("title") or NECKS[self.neck_name].title)

    def grid(self, level: int) -> CellGrid:
        """Cell grid of a pyramid level: the backbone's for C1…C5; above them, followed through the
        neck's own layers to the first node at that level (NAS-FPN's unpadded 2×2 pools shift the
        cells by half a cell; FPN's kernel-1 pools do not)."""
        grids = self.backbone.grids
        if f"C{level}" in grids:
            return grids[f"C{level}"]
        if level not in self._extra_grids:
            self._extra_grids[level] = self._grid_through_neck(level)
        return self._extra_grids[level]

    def _grid_through_neck(self, level: int) -> CellGrid:
        topology = self.topology
        node = next(n.id for n in topology.nodes if n.level == level)
        ancestors = nx.ancestors(topology.graph(), node) | {node}
        order = [n for n in topology.order if n in ancestors]
        edges = {n: [(e.source, e.layers) for e in topology.node(n).inputs] for n in order}

        def along(axis: str) -> rfm.RF:
            base = {}
            for name in order:
                if topology.node(name).is_input:
                    g = self.backbone.grids.get(name)
                    base[name] = rfm.RF(g.rf_size, g.jump, getattr(g, f"start_{axis}")) if g else rfm.PIXELS
            return rfm.node_receptive_fields(order, edges, base)[node][0].rf  # the narrowest path

        ry, rx = along("y"), along("x")
        return CellGrid(ry.jump, ry.start, rx.start, ry.size)


_backbones: LRU[str, EfficientNetLite0] = LRU(4)
_models: LRU[tuple[str, str, str, int, str], Model] = LRU(16)
_features: LRU[tuple[str, str], BackboneResult] = LRU(8, idle=IDLE_S)
_flops: LRU[Hashable, int] = LRU(64)
_meta_models: LRU[Hashable, nn.Module] = LRU(16)


# Decoded pictures by content, for the browser sessions that name them by key (a session keeps
# the key only). At most 3 MB each (MAX_SIDE² RGB); one upload shared by many sessions is kept once.
PICTURES = 64
PICTURE_IDLE_S = max(IDLE_S, 1800.0)  # a learner who looks away for a while still finds their picture
_pictures: LRU[str, Picture] = LRU(PICTURES, idle=PICTURE_IDLE_S)


def keep_picture(picture: Picture) -> str:
    """Keep a picture where sessions find it by its content key (`Picture.key`), which this returns."""
    _pictures.get_or_make(picture.key, lambda: picture)
    return picture.key


def kept_picture(key: str) -> Picture | None:
    """The picture kept under `key`, or None when it was dropped to make room for newer ones."""
    return _pictures.find(key)


def backbone_on(device: str) -> EfficientNetLite0:
    return _backbones.get_or_make(device, lambda: build_backbone().to(device))


@dataclass(frozen=True)
class Model:
    """A neck as the app runs it: with its trained weights and head where it has them (`head` None:
    fresh weights, and why in `weights`)."""

    neck: Neck
    head: NeckWithHead | None
    weights: Weights


def model_on(name: str, config: Mapping[str, Any], device: str, seed: int = 0, weights: str = TRAINED) -> Model:
    """Registry neck `name` at `config` on `device`, kept: with its trained weights when `weights` is
    TRAINED and the manifest has them for this configuration, else seeded fresh weights."""
    key = (name, repr(sorted(config.items())), device, seed, weights)
    return _models.get_or_make(key, lambda: _make_model(name, config, device, seed, weights))


def _make_model(name: str, config: Mapping[str, Any], device: str, seed: int, weights: str) -> Model:
    neck = build_neck(name, seed=seed, **config)
    if weights != TRAINED:
        return Model(neck.to(device), None, Weights(FRESH))
    if not NECKS[name].task:
        return Model(neck.to(device), None, Weights(FRESH, "no_task"))
    try:
        # a configuration names the controls it sets; the others are at their defaults
        found = trained_weights(name, {**NECKS[name].defaults, **config})
        model = seeded(NeckWithHead, 0, neck=neck, task=NECKS[name].task, num_classes=len(CLASS_NAMES))
        load_into(model, found.state, model.is_frozen)
    except WeightsUnavailable as missing:  # refused before any tensor was copied: `neck` is still fresh
        return Model(neck.to(device), None, Weights(FRESH, missing.reason))
    model = model.eval().to(device)
    metrics = tuple((k, float(v)) for k, v in found.entry["metrics"].items())
    return Model(model.neck, model, Weights(TRAINED, metrics=metrics))


def neck_on(name: str, config: Mapping[str, Any], device: str, seed: int = 0, weights: str = TRAINED) -> Neck:
    return model_on(name, config, device, seed, weights).neck


def neck_of(analysis: Analysis) -> Neck:
    """The neck instance that made `analysis` (same configuration, device and weights), for reruns."""
    return neck_on(analysis.neck_name, analysis.config, analysis.device, analysis.seed, analysis.weights.shown)


def _grids(model: EfficientNetLite0, height: int, width: int) -> dict[str, CellGrid]:
    grids = {}
    for name, layers in model.layer_chain().items():
        ry = rfm.through(layers, size=height)
        rx = rfm.through(layers, size=width)
        grids[name] = CellGrid(ry.jump, ry.start, rx.start, ry.size)
    return grids


def run_backbone(picture: Picture, device: str = "cpu") -> BackboneResult:
    """C1…C5 and the top-5 of a picture, cached per picture and device."""
    key = (picture.pixels_key, device)

    def make() -> BackboneResult:
        model = backbone_on(device)
        x = normalise(picture.tensor().to(device))
        with torch.inference_mode():
            start = time.perf_counter()
            feats = model.forward_features(x)
            _synchronize(device)
            seconds = time.perf_counter() - start
            small = F.interpolate(picture.tensor().to(device), size=(CLASSIFIER_SIZE,) * 2,
                                  mode="bilinear", antialias=True, align_corners=False)
            top5 = top_k(model(normalise(small)))
        meta = on_meta("backbone", lambda: EfficientNetLite0().eval())  # FLOPs need no weights
        flops = count_flops(lambda: meta.forward_features(_meta_input(x.shape)), ("backbone", tuple(x.shape)))
        info = model.feature_info
        features = {"image": x, **{i.name: f for i, f in zip(info, feats)}}
        h, w = picture.rgb.shape[:2]
        return BackboneResult(features, info, _grids(model, h, w), top5, flops, seconds)

    return _features.get_or_make(key, make)


def count_flops(run: Callable[[], Any], key: Any) -> int:
    """FLOPs of `run()` by torch.utils.flop_counter, cached by `key` (model, input shapes).
    Counted in a separate run (on the meta device: see `on_meta`): the counter slows the forward it
    watches."""
    def count() -> int:
        counter = FlopCounterMode(display=False)
        with torch.inference_mode(), counter:
            run()
        return counter.get_total_flops()

    return _flops.get_or_make(key, count)


def on_meta(key: Hashable, build: Callable[[], M]) -> M:
    """A model built on the meta device (kept by `key`): shapes without data, so counting its FLOPs
    costs no arithmetic (the counts depend on shapes only; tests check they equal a real run's)."""
    def make() -> nn.Module:
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")  # loading ImageNet weights into meta tensors is a no-op
            return build()

    return cast(M, _meta_models.get_or_make(key, make))  # the key names what `build` makes


def _meta_input(shape: Sequence[int]) -> Tensor:
    return torch.empty(tuple(shape), device="meta")


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)  # so timings cover the GPU work, not just its launch


def analyse(picture: Picture, neck_name: str, config: Mapping[str, Any] | None = None,
            device: str = "cpu", seed: int = 0, weights: str = TRAINED) -> Analysis:
    """Run the backbone (cached) and the neck once with tracing; returns every node's tensor, and
    with trained weights what the head answers."""
    config = dict(config or {})
    backbone = run_backbone(picture, device)
    start = time.perf_counter()
    model = model_on(neck_name, config, device, seed, weights)
    neck = model.neck
    built = time.perf_counter()
    missing = [n for n in neck.input_names if n not in backbone.features]
    if missing:
        raise ValueError(f"{neck_name} reads {missing}, which the backbone does not produce")
    inputs = [backbone.features[n] for n in neck.input_names]
    trace, node_params, seconds = _traced_forward(neck, inputs, device)
    shapes = tuple(tuple(x.shape) for x in inputs)
    config_key = (neck_name, repr(sorted(config.items())))
    meta = on_meta(config_key, lambda: build_neck(neck_name, None, **config))
    flops = count_flops(lambda: meta(list(map(_meta_input, shapes))), (*config_key, shapes))
    timings = {"backbone": backbone.seconds, "neck build": built - start, "neck": seconds}
    answers = None if model.head is None else answer(model.head, trace, neck.output_names, picture, device)
    return Analysis(picture, device, backbone, neck_name, config, neck.topology, trace,
                    list(neck.topology.outputs), neck_parameters(neck), flops, timings, node_params, seed,
                    model.weights, answers)


def answer(model: NeckWithHead, trace: Trace, outputs: Sequence[str], picture: Picture, device: str) -> Answers:
    """The head of `model` on the traced outputs: detections and per-level score maps, or the
    segmentation's class probabilities."""
    picture_hw = (int(picture.rgb.shape[0]), int(picture.rgb.shape[1]))
    features = [trace[name].to(device) for name in outputs]
    with torch.inference_mode():
        if isinstance(model.head, SegmentationHead):
            return Answers(segmentation=model.head.probabilities(features[0])[0].float().cpu())
        levels: list[LevelOutput] = model.head(features)
        found = decode(levels, picture_hw, threshold=DETECTION_FLOOR)
    return Answers(detections=Detections(*(x.cpu() for x in (found.boxes, found.scores, found.labels, found.levels))),
                   heatmaps={out.level: out.scores()[0].float().cpu() for out in levels})


# Analyses kept for the sessions (which hold AnalysisRefs, not tensors), bounded in bytes: many
# students analysing one picture with one neck share one analysis; a dropped one is made again from
# its recipe. NECKLAB_ANALYSES_MB sets the budget (the largest analyses are ~100 MB).
ANALYSES_MB = int(os.environ.get("NECKLAB_ANALYSES_MB", "1536"))
_analyses: LRU[str, Analysis] = LRU(512, budget=ANALYSES_MB * 1024 * 1024, weigh=lambda a: a.nbytes, idle=IDLE_S)


def shared_analysis(picture: Picture, neck_name: str, config: Mapping[str, Any] | None = None,
                    device: str = "cpu", seed: int = 0, weights: str = TRAINED) -> Analysis:
    """`analyse`, kept by its recipe: a second session asking for the same analysis gets it at once."""
    recipe = Recipe(picture.key, neck_name, tuple(sorted(dict(config or {}).items())), device, seed, weights)
    return _analyses.get_or_make(_recipe_key(recipe), lambda: replace(
        analyse(picture, neck_name, config, device, seed, weights), recipe=recipe, _kept_as=_recipe_key(recipe)))


def _recipe_key(recipe: Recipe) -> str:
    return repr(recipe)


def keep_analysis(analysis: Analysis) -> AnalysisRef:
    """Keep `analysis` among the shared ones (if it is not yet) and return what a session holds."""
    if not analysis._kept_as:
        analysis._kept_as = f"kept-{uuid.uuid4().hex}"
    _analyses.get_or_make(analysis._kept_as, lambda: analysis)
    return AnalysisRef(analysis._kept_as, analysis.recipe)


def kept_analysis(ref: AnalysisRef) -> Analysis | None:
    """The analysis a session holds: kept, made again from its recipe, or None when it was dropped
    and cannot be (an edited copy) or its picture was dropped too."""
    found = _analyses.find(ref.key)
    if found is not None or ref.recipe is None:
        return found
    picture = kept_picture(ref.recipe.picture)
    if picture is None:
        return None
    recipe = ref.recipe
    return shared_analysis(picture, recipe.neck, dict(recipe.config), recipe.device, recipe.seed, recipe.weights)


def rerun(analysis: Analysis, neck: Neck) -> Analysis:
    """`analysis` again with another instance of its neck (same structure, other weights — e.g. a
    learner's edited copy) on the same backbone features: a new trace, parameters and timing; the
    FLOPs carry over, as the structure does."""
    inputs = [analysis.backbone.features[n] for n in neck.input_names]
    trace, node_params, seconds = _traced_forward(neck, inputs, analysis.device)
    return replace(analysis, topology=neck.topology, trace=trace, params=neck_parameters(neck),
                   timings={**analysis.timings, "neck": seconds}, node_params=node_params, recipe=None,
                   answers=None, _extra_grids={}, _kept_as="")


def _traced_forward(neck: Neck, inputs: list[Tensor], device: str) -> tuple[Trace, dict[str, int], float]:
    """One traced forward: every node's tensor and extras moved to the CPU, the parameters behind
    each node, and the seconds the forward took on `device`."""
    start = time.perf_counter()
    with torch.inference_mode(), tracing() as trace, _attribute_modules(neck, trace) as module_calls:
        neck(inputs)
    _synchronize(device)
    seconds = time.perf_counter() - start
    trace.tensors = {k: v.float().cpu() for k, v in trace.tensors.items()}
    trace.extras = {k: {n: v.cpu() if isinstance(v, Tensor) else v for n, v in e.items()}
                    for k, e in trace.extras.items()}
    return trace, _node_params(neck, trace, module_calls), seconds


@contextmanager
def _attribute_modules(neck: Neck, trace: Trace) -> Iterator[list[tuple[int, str]]]:
    """Log (nodes recorded so far, module name) for every call of a module that holds parameters of
    its own: one that starts while k nodes are recorded computes part of node k, the next one."""
    calls: list[tuple[int, str]] = []

    def log(name: str) -> None:
        if active() is trace:  # the model is shared: ignore other sessions' forwards through it
            calls.append((len(trace.tensors), name))

    handles = [m.register_forward_pre_hook(lambda *_, name=name: log(name))
               for name, m in neck.named_modules() if any(True for _ in m.parameters(recurse=False))]
    try:
        yield calls
    finally:
        for h in handles:
            h.remove()


def _node_params(neck: Neck, trace: Trace, calls: list[tuple[int, str]]) -> dict[str, int]:
    """Parameters of the layers that computed each node (a shared layer counts at every use)."""
    modules = dict(neck.named_modules())
    order = trace.order
    used: dict[str, set[str]] = {node: set() for node in order}
    for index, name in calls:
        if index < len(order):
            used[order[index]].add(name)
    return {node: sum(p.numel() for name in names for p in modules[name].parameters(recurse=False))
            for node, names in used.items()}


def base_receptive_fields(analysis: Analysis) -> dict[str, rfm.RF]:
    """Receptive fields (along the height) of the neck's input nodes, for Topology.receptive_fields."""
    base: dict[str, rfm.RF] = {}
    for name in analysis.topology.inputs:
        if name == "image":
            base[name] = rfm.PIXELS
        else:
            g = analysis.backbone.grids[name]
            base[name] = rfm.RF(g.rf_size, g.jump, g.start_y)
    return base


def describe_shape(t: Tensor) -> str:
    """C×H×W of a batch-1 feature map, or the length of a vector."""
    dims = list(t.shape[1:])
    return "×".join(str(d) for d in dims) if dims else "1"
