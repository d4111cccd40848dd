"""Every neck of the zoo on the same backbone features of one picture: parameters, FLOPs, latency,
output shapes, and the theoretical and effective receptive field of the centre cell of the finest
output.

Each neck runs in the configuration its tab starts with, so the cached models and backbone features
of the app are reused (nothing is rebuilt per call). Single-level necks (SPP, ASPP) read C5, as
their topologies say. The app's Compare tab and `benchmarks/compare.py` both go through
`compare_zoo`, so their figures agree by construction. It does the least work that gives honest
figures: one traced forward per neck fills the row and is its latency (more repeats on request),
FLOPs are counted on the meta device, and the effective receptive fields (a backward pass through
the backbone per neck, the slow part) come from `add_erfs`, which the tab runs after showing the rest.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from necklab.lab.analysis import (
    Analysis,
    Weights,
    _synchronize,
    analyse,
    base_receptive_fields,
    describe_shape,
    neck_on,
)
from necklab.lab.erf import erf_maps, mass_area
from necklab.lab.imaging import Picture
from necklab.lab.pyramid import level_of
from necklab.models.registry import NECKS, NeckSpec
from necklab.models.weights import TRAINED

ERF_MASS = 0.95  # share of the gradient mass whose area is reported


@dataclass(frozen=True)
class Note:
    """A remark on a row, as data: `compare.note.<key>` of the language files, with its fields."""

    key: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class NeckRow:
    """One neck's line of the comparison; the measured fields are None where the neck failed
    (`error` says why) or where they do not apply (a pooled vector has no cells)."""

    name: str
    title: str
    inputs: tuple[str, ...] = ()  # the backbone nodes the neck reads ("image": it reruns the backbone)
    params: int | None = None
    flops: int | None = None
    latency_ms: float | None = None  # median of untraced forwards on the chosen device
    outputs: str = ""  # "node C×H×W" per output
    finest: str | None = None  # the finest output node (by level; a pooled vector if there is no map)
    stride: int | None = None  # of the finest output, in analysed pixels; None for a pooled vector
    rf_px: float | None = None  # theoretical RF of the finest output's cells, max over paths (inf: global)
    local_rf_px: float | None = None  # the largest RF over paths that do not pass a global pooling
    erf_px: int | None = None  # pixels holding ERF_MASS of the centre cell's effective receptive field
    erf_percent: float | None = None  # that as a share of the picture, in %
    cell: tuple[int, int] | None = None  # the finest output's centre cell, where the ERF is taken
    notes: list[Note] = field(default_factory=list)
    error: str = ""
    config: dict[str, Any] = field(default_factory=dict)  # the build arguments measured
    weights: Weights = field(default_factory=Weights)  # which weights ran, with their held-out metrics

    @property
    def metrics(self) -> dict[str, float]:
        """Held-out AP, AP_S, AP_M, AP_L (detection) or mIoU (segmentation) of the trained weights, in %."""
        return dict(self.weights.metrics)

    @property
    def whole_picture(self) -> bool:
        """Whether a path with global pooling lets the finest output see every pixel."""
        return self.rf_px is not None and math.isinf(self.rf_px)


def median_latency(run: Callable[[], Any], repeats: int = 5, device: str = "cpu") -> float:
    """Median wall time of `repeats` calls of `run` after one warm-up call, in milliseconds, under
    torch.inference_mode. On CUDA every call is synchronised, so the time covers the GPU work."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    with torch.inference_mode():
        run()
        _synchronize(device)
    return statistics.median(wall_times(run, repeats, device)) * 1000


def wall_times(run: Callable[[], Any], repeats: int, device: str = "cpu") -> list[float]:
    """Seconds of each of `repeats` calls of `run` under torch.inference_mode (synchronised on CUDA)."""
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            _synchronize(device)
            times.append(time.perf_counter() - start)
    return times


def tab_config(spec: NeckSpec) -> dict[str, Any]:
    """The configuration a neck's tab starts with (its controls' defaults)."""
    return spec.defaults


def finest_output(analysis: Analysis) -> str:
    """The output feature map with the smallest stride; a neck without one gives its first output."""
    maps = [o for o in analysis.outputs if analysis.trace[o].dim() == 4]
    if not maps:
        return analysis.outputs[0]
    return min(maps, key=lambda o: level_of(analysis.topology.node(o)))


def compare_neck(picture: Picture, spec: NeckSpec, device: str = "cpu", repeats: int = 1,
                 config: dict[str, Any] | None = None, weights: str = TRAINED) -> NeckRow:
    """Measure one neck in `config`, by default its tab configuration (see NeckRow), all but its
    effective receptive field (`add_erfs`). The latency is the median of the traced forward the
    analysis times and `repeats` − 1 further untraced forwards: the app's first run is timed as it
    happens, not repeated."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    config = tab_config(spec) if config is None else config
    analysis = analyse(picture, spec.name, config, device, weights=weights)
    neck = neck_on(spec.name, config, device, weights=weights)
    tensors = [analysis.backbone.features[n] for n in neck.input_names]
    latency = 1000 * statistics.median([analysis.timings["neck"],
                                        *wall_times(lambda: neck(tensors), repeats - 1, device)])
    finest = finest_output(analysis)
    fields = analysis.topology.receptive_fields(base_receptive_fields(analysis))[finest]
    sizes = [p.rf.size for p in fields]
    local = [s for s in sizes if math.isfinite(s)]
    row = NeckRow(spec.name, spec.title, tuple(neck.input_names), analysis.params, analysis.flops, latency,
                  ", ".join(f"{o} {describe_shape(analysis.trace[o])}" for o in analysis.outputs), finest,
                  rf_px=max(sizes), local_rf_px=max(local) if local else None, config=config,
                  weights=analysis.weights)
    if spec.notes:
        row.notes.append(Note(spec.notes))
    if "image" in neck.input_names:
        row.notes.append(Note("rerun"))
    level = analysis.topology.node(finest).level
    if analysis.trace[finest].dim() == 4 and level is not None:
        h, w = analysis.trace[finest].shape[-2:]
        row.stride, row.cell = 2 ** level, (h // 2, w // 2)
    else:
        row.notes.append(Note("vector"))
    return row


def add_erfs(picture: Picture, rows: list[NeckRow], device: str = "cpu") -> list[NeckRow]:
    """Fill in the effective receptive field of the centre cell of each row's finest output, all
    necks in one pass (one backbone forward): the slow column, computed after the rest of the
    table is shown."""
    # (row, finest output, its centre cell): a measured row has both
    todo = [(r, r.finest, r.cell) for r in rows if r.finest is not None and r.cell is not None and not r.error]
    necks = [neck_on(r.name, r.config, device, weights=r.weights.shown) for r, _, _ in todo]
    maps = erf_maps(picture, device, [(neck, [finest], cell) for neck, (_, finest, cell) in zip(necks, todo)])
    for (row, finest, _), erf in zip(todo, maps):
        row.erf_px, share = mass_area(erf[finest], ERF_MASS)
        row.erf_percent = 100 * share
    return rows


def compare_zoo(picture: Picture, device: str = "cpu", repeats: int = 1,
                progress: Callable[[int, str], None] | None = None, erf: bool = True,
                weights: str = TRAINED) -> list[NeckRow]:
    """One row per registry neck, in registry order. `progress(i, title)` is called before neck i
    starts. A neck that fails gets a row with its `error` instead of stopping the comparison.
    `erf=False` leaves the effective receptive fields to a later `add_erfs`."""
    rows = []
    for i, spec in enumerate(NECKS.values()):
        if progress is not None:
            progress(i, spec.title)
        try:
            rows.append(compare_neck(picture, spec, device, repeats, weights=weights))
        except Exception as e:  # noqa: BLE001 — one neck's failure is reported in its row
            rows.append(NeckRow(spec.name, spec.title, error=f"{type(e).__name__}: {e}"))
    return add_erfs(picture, rows, device) if erf else rows
