"""A short, bounded training of a playground design, scored by COCO AP on held-out scenes.

What "Train this design" measures: the design's neck (built by the zoo's NAS-FPN class) and a fresh
detection head, both seeded, trained on the cached backbone features of QUICK_TRAIN scenes for at
most MAX_SECONDS of training (batches of BATCH scenes: bounded memory), then evaluated on the first
QUICK_VAL scenes of the held-out split. The run advances in slices of about SLICE seconds (`fit`
with a deadline and the run's `Stepping`), so the app can give its worker back between them and a
learner can cancel it; `quick_train` runs all slices in one call (tests, the search's AP proxy).

The number is noisy and low: a few hundred steps on 160 scenes, the learning rate still near its
peak when time runs out. It ranks designs trained the same way, not against the zoo's trained necks.
"""
from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from necklab.lab.playground import NECK, design_config
from necklab.models.cell_design import Design
from necklab.models.registry import NECKS, build_neck
from necklab.train.cutouts import Library
from necklab.train.features import Progress, SceneFeatures, scene_features
from necklab.train.scenes import SceneSet
from necklab.train.trainer import Plan, Stepping, evaluate, fit, stepping, with_head

QUICK_TRAIN, QUICK_VAL = 160, 48  # scenes (seed 0); the val scenes are the first of the zoo's held-out ones
MIN_SECONDS, MAX_SECONDS = 30, 120  # of training a learner may ask for; MAX_SECONDS is enforced here
SEARCH_SECONDS = 20  # each candidate's training when the random search ranks by AP
SLICE = 2.0  # seconds of training per slice
BATCH = 8
LR, WARMUP = 2e-3, 10
STEP_CAP = 4  # steps per second of budget at most: a run on a fast machine still ends by its steps
MAX_JOBS = 8  # unfinished runs kept process-wide (a model and its optimiser each, a few MB)
BOARD_SIZE = 64  # finished runs remembered process-wide (numbers only)


@dataclass(frozen=True)
class QuickData:
    train: SceneFeatures
    val: SceneFeatures


_data: dict[tuple[str, int, int], QuickData] = {}
_data_lock = threading.Lock()


def quick_data(progress: Progress | None = None, folder: Path | None = None, cutouts: Library | None = None,
               train: int = QUICK_TRAIN, val: int = QUICK_VAL) -> QuickData:
    """The quick run's scenes' features: computed on first use (with `progress`), then kept for the
    process and on disk (`scene_features`). Without `cutouts`, refuses at once when the data
    package is missing (DataSourceMissing names it)."""
    key = (f"{folder}|{None if cutouts is None else id(cutouts)}", train, val)
    with _data_lock:  # two first runs at once compute the features once
        if key not in _data:
            _data[key] = QuickData(scene_features(SceneSet("train", train, cutouts=cutouts), progress, folder),
                                   scene_features(SceneSet("val", val, cutouts=cutouts), progress, folder))
        return _data[key]


@dataclass
class QuickResult:
    """A finished short run: held-out metrics (AP, AP50, AP75, AP_S, AP_M, AP_L in %), its steps,
    seconds of training, why it stopped ('steps', 'time', 'cancelled') and its losses."""

    ap: dict[str, float]
    steps: int
    seconds: float
    stopped: str
    losses: list[float] = field(default_factory=list)


class QuickJob:
    """One short run of a design, advanced slice by slice."""

    def __init__(self, design: Design, stages: int, seconds: float, data: QuickData, steps: int | None = None,
                 seed: int = 0) -> None:
        self.design, self.stages, self.data = design, int(stages), data
        self.budget = min(max(float(seconds), 1.0), MAX_SECONDS)
        cap = max(1, int(STEP_CAP * self.budget))
        self.plan = Plan(steps=cap if steps is None else min(steps, cap), batch=BATCH, lr=LR, warmup=WARMUP,
                         seed=seed)
        neck = build_neck(NECK, seed, **design_config(design, self.stages))
        self.model = with_head(neck, NECKS[NECK].task, seed)
        self.state: Stepping = stepping(self.model, data.train, self.plan)
        self.losses: list[float] = []
        self.seconds = 0.0  # of training so far
        self.stopped: str | None = None  # set when the run is over
        self.cancelled = False
        self.touched = time.monotonic()

    @property
    def steps(self) -> int:
        return self.state.step

    @property
    def left(self) -> float:
        return max(self.budget - self.seconds, 0.0)

    def advance(self, slice_seconds: float = SLICE, cancelled: Callable[[], bool] | None = None) -> bool:
        """Train one slice (at most `slice_seconds`, never past the budget); True once the run is over."""
        self.touched = time.monotonic()
        if self.stopped is None:
            def stop() -> bool:
                return self.cancelled or (cancelled is not None and cancelled())

            run = fit(self.model, self.data.train, self.plan, deadline=time.monotonic() + min(slice_seconds, self.left),
                      cancelled=stop, state=self.state)
            self.losses += run.losses
            self.seconds += run.seconds
            if run.stopped == "cancelled" or run.stopped == "steps":
                self.stopped = run.stopped
            elif self.left <= 0:
                self.stopped = "time"
        return self.stopped is not None

    def result(self) -> QuickResult:
        """The held-out metrics of the run as it stands (evaluated now)."""
        return QuickResult(evaluate(self.model, self.data.val), self.steps, round(self.seconds, 1),
                           self.stopped or "time", list(self.losses))


def quick_train(design: Design, stages: int, seconds: float, progress: Progress | None = None,
                cancelled: Callable[[], bool] | None = None, data: QuickData | None = None,
                steps: int | None = None, seed: int = 0) -> QuickResult:
    """Train `design` for at most `seconds` (≤ MAX_SECONDS) of training, or `steps`, or until
    `cancelled()`, and evaluate it on the held-out quick scenes."""
    job = QuickJob(design, stages, seconds, quick_data(progress) if data is None else data, steps, seed)
    while not job.advance(cancelled=cancelled):
        if progress is not None:
            progress(min(job.seconds / job.budget, 1.0),
                     f"step {job.steps} · loss {job.losses[-1] if job.losses else float('nan'):.3f}")
    return job.result()


# --- the app's runs: process-wide, bounded ---------------------------------------------------------
class Jobs:
    """Unfinished runs by token (a browser session holds only the token). At most MAX_JOBS: a new
    run drops the one left alone longest."""

    def __init__(self, limit: int = MAX_JOBS) -> None:
        self.limit = limit
        self._jobs: OrderedDict[str, QuickJob] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, job: QuickJob) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._jobs[token] = job
            while len(self._jobs) > self.limit:
                oldest = min(self._jobs, key=lambda k: self._jobs[k].touched)
                self._jobs.pop(oldest).cancelled = True
        return token

    def get(self, token: str | None) -> QuickJob | None:
        with self._lock:
            return self._jobs.get(token) if token else None

    def pop(self, token: str | None) -> QuickJob | None:
        with self._lock:
            return self._jobs.pop(token, None) if token else None

    def __len__(self) -> int:
        return len(self._jobs)


JOBS = Jobs()


@dataclass(frozen=True)
class Entry:
    name: str
    stages: int
    budget: float
    result: QuickResult


class Board:
    """Finished runs of this process (anyone's), so that a design's AP stands beside the presets'
    AP trained the same way (same stages, same budget). Keyed by the design's cells, not its name."""

    def __init__(self, size: int = BOARD_SIZE) -> None:
        self.size = size
        self._runs: OrderedDict[tuple[object, int, float], Entry] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, design: Design, stages: int, budget: float, result: QuickResult) -> None:
        key = (design.cells, int(stages), float(budget))
        with self._lock:
            self._runs.pop(key, None)
            self._runs[key] = Entry(design.preset or design.name, int(stages), float(budget), result)
            while len(self._runs) > self.size:
                self._runs.popitem(last=False)

    def like(self, design: Design, stages: int, budget: float, others: dict[str, Design]) -> list[tuple[str, Entry]]:
        """The design's run and the runs of `others` (name → design) at the same stages and budget."""
        rows: list[tuple[str, Entry]] = []
        with self._lock:
            for name, d in [("", design), *others.items()]:
                entry = self._runs.get((d.cells, int(stages), float(budget)))
                if entry is not None and all(entry is not e for _, e in rows):  # a preset trained as the design
                    rows.append((name, entry))
        return rows

BOARD = Board()
