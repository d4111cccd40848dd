"""A merging-cell design as a neck of the app, measured beside FPN, PANet and NAS-FPN, and a small
random search over mutations ranked by measurable proxies.

The design is built by the zoo's NAS-FPN class (`design=` argument), so it runs through the same
analysis, tracing, FLOP counting, latency and ERF code as every neck. No proxy here says how well a
detector would do; the one that does, "short-training AP", trains each candidate for a few seconds
(necklab.train.quick, handed in as `train`: this layer trains nothing) and is as noisy as that.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from necklab.i18n import t
from necklab.lab.analysis import Analysis, neck_of, shared_analysis
from necklab.lab.compare import NeckRow, add_erfs, compare_neck
from necklab.lab.erf import erf_maps
from necklab.lab.imaging import Picture
from necklab.models.cell_design import LEVELS, Design, DesignError, cell_ref, level_ref
from necklab.models.registry import NECKS, NeckSpec

NECK = "nasfpn"  # the registry neck whose class builds designs
REFERENCES = ("fpn", "pafpn", "nasfpn")  # the hand-designed (and searched) necks shown beside a design
OUT_CHANNELS = 64  # as the zoo's pyramid tabs start


def design_config(design: Design, stages: int) -> dict[str, Any]:
    return {"design": design, "stack_times": int(stages), "out_channels": OUT_CHANNELS}


def design_spec(design: Design, lang: str = "en") -> NeckSpec:
    """NAS-FPN's registry entry renamed for a design, in `lang` (summaries and comparison rows read it)."""
    return replace(NECKS[NECK], title=t("playground.spec.title", lang, name=design.name),
                   paper=t("playground.spec.paper", lang), reference_source=t("playground.spec.source", lang))


def run_design(picture: Picture, design: Design, stages: int, device: str = "cpu") -> Analysis:
    """The design's neck on the picture through the normal analysis path."""
    return shared_analysis(picture, NECK, design_config(design, stages), device)


def compare_design(picture: Picture, design: Design, stages: int, device: str = "cpu", repeats: int = 5,
                   progress: Callable[[int, str], None] | None = None) -> list[NeckRow]:
    """Comparison rows (necklab.lab.compare.NeckRow) of FPN, PANet and NAS-FPN in their tab configurations,
    then the design; `progress(i, title)` before each."""
    jobs = [(NECKS[name], None) for name in REFERENCES] + [(design_spec(design), design_config(design, stages))]
    rows = []
    for i, (spec, config) in enumerate(jobs):
        if progress is not None:
            progress(i, spec.title)
        rows.append(compare_neck(picture, spec, device, repeats, config))
    return add_erfs(picture, rows, device)


def output_erfs(analysis: Analysis) -> tuple[dict[str, np.ndarray], dict[str, tuple[int, int]]]:
    """The effective receptive field of the centre cell of every output level, and those cells (one
    backward per level — the levels have different grids, so different centre cells — after one
    backbone forward for all of them)."""
    cells = {node: (analysis.trace[node].shape[-2] // 2, analysis.trace[node].shape[-1] // 2)
             for node in analysis.outputs}
    neck = neck_of(analysis)
    maps = erf_maps(analysis.picture, analysis.device, [(neck, [node], cells[node]) for node in analysis.outputs])
    return {node: m[node] for node, m in zip(analysis.outputs, maps)}, cells


# --- random search ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proxy:
    key: str  # NeckRow field
    label: str
    lower_is_better: bool


PROXIES = {p.label: p for p in (
    Proxy("params", "fewer parameters", True),
    Proxy("flops", "fewer FLOPs", True),
    Proxy("latency_ms", "lower latency", True),
    Proxy("erf_percent", "larger ERF of the finest level", False),
    Proxy("ap", "higher short-training AP", False),  # not a NeckRow field: Candidate.ap, when trained
)}
AP = "higher short-training AP"


@dataclass
class Candidate:
    design: Design
    change: str  # the mutations from the start design, in words
    row: NeckRow
    score: float = 0.0  # mean rank over the chosen proxies (1 = best on every one)
    ap: float | None = None  # held-out AP after a short training, when that proxy was chosen

    def value(self, proxy: Proxy) -> Any:
        return self.ap if proxy.key == "ap" else getattr(self.row, proxy.key)


def rank(candidates: list[Candidate], proxies: Sequence[str]) -> list[Candidate]:
    """Order by the mean rank over the chosen proxies (ties share the better rank); best first."""
    if not proxies:
        raise ValueError("choose at least one proxy to rank by")
    for c in candidates:
        c.score = 0.0
    for label in proxies:
        proxy = PROXIES[label]
        values = [c.value(proxy) for c in candidates]
        for c, v in zip(candidates, values):  # not measured (None): behind every measured one
            better = sum(1 for u in values if u is not None and
                         (v is None or (u < v if proxy.lower_is_better else u > v)))
            c.score += (better + 1) / len(proxies)
    return sorted(candidates, key=lambda c: c.score)


def random_search(picture: Picture, start: Design, stages: int, proxies: Sequence[str], count: int,
                  seconds: float, device: str = "cpu", seed: int = 0,
                  progress: Callable[[int, str], None] | None = None, lang: str = "en",
                  train: Callable[[Design], float] | None = None, train_seconds: float = 0.0) -> list[Candidate]:
    """The start design and up to `count` random variants of it (each one to three mutations away),
    measured on the picture until `seconds` have passed, ranked by `proxies` (labels of PROXIES).
    Latency is the median of three forwards, so it is noisy on a busy machine. Each candidate's
    change is in words in `lang`. Ranking by AP needs `train` (a design → its held-out AP after a
    short training of `train_seconds`): a candidate starts only if its training fits in what is
    left of `seconds`."""
    trains = AP in proxies
    if trains and train is None:
        raise ValueError("ranking by short-training AP needs a trainer")
    rng = random.Random(seed)
    deadline = time.monotonic() + seconds
    jobs: list[tuple[Design, str]] = [(start, t("design.start", lang))]
    seen = {start.cells}
    tries = 0
    while len(jobs) <= count and tries < 50 * count:  # small designs have few distinct variants
        tries += 1
        design, changes = start, []
        for _ in range(rng.randint(1, 3)):
            design, change = mutate(design, rng, lang)
            changes.append(change)
        if design.cells not in seen:
            seen.add(design.cells)
            jobs.append((replace(design, name=f"candidate {len(jobs)}"), t("design.sep", lang).join(changes)))
    candidates = []
    for i, (design, words) in enumerate(jobs):
        if i and time.monotonic() + (train_seconds if trains else 0.0) > deadline:
            break
        if progress is not None:
            progress(i, design.name)
        row = compare_neck(picture, design_spec(design), device, 3, design_config(design, stages))
        candidates.append(Candidate(design, words, row,
                                    ap=train(design) if trains and train is not None else None))
    if any(PROXIES[label].key == "erf_percent" for label in proxies):  # the slow proxy, only when chosen
        add_erfs(picture, [c.row for c in candidates], device)
    return rank(candidates, proxies)


def _inputs_for(k: int) -> list[str]:
    """Every node cell k may read: the five levels and the cells before it."""
    return [level_ref(lvl) for lvl in LEVELS] + [cell_ref(j) for j in range(1, k)]


def mutate(design: Design, rng: random.Random, lang: str = "en") -> tuple[Design, str]:
    """One random legal change — swap an input, change an op, change an output level, or switch the
    output conv on or off — and the change in words (in `lang`). The result always validates: a change that
    would leave a level without a producer is drawn again."""
    design.validate()
    while True:
        k = rng.randrange(1, len(design.cells) + 1)
        cell = design.cells[k - 1]
        kind = rng.choice(("input", "op", "level", "conv"))
        if kind == "input":
            side = rng.choice(("a", "b"))
            old = getattr(cell, side)
            new = rng.choice([r for r in _inputs_for(k) if r != old])
            changed = replace(cell, a=new) if side == "a" else replace(cell, b=new)
            words = t("design.mutate_input", lang, k=k, side=side.upper(), old=old, new=new)
        elif kind == "op":
            new_op = "sum" if cell.op == "gp" else "gp"
            changed = replace(cell, op=new_op)
            words = t("design.mutate_op", lang, k=k, old=t(f"design.op_{cell.op}", lang),
                      new=t(f"design.op_{new_op}", lang))
        elif kind == "conv":
            changed = replace(cell, conv=not cell.conv)
            words = t("design.mutate_conv_off" if cell.conv else "design.mutate_conv_on", lang, k=k)
        else:
            level = rng.choice([lvl for lvl in LEVELS if lvl != cell.level])
            changed = replace(cell, level=level)
            words = t("design.mutate_level", lang, k=k, old=cell.level, new=level)
        candidate = replace(design, cells=design.cells[:k - 1] + (changed,) + design.cells[k:])
        try:
            return candidate.validate(), words
        except DesignError:
            continue  # e.g. the only producer of a level moved away
