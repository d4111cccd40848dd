"""A session holds keys, not tensors: analyses live in one process-wide cache bounded in bytes,
shared by every session that asks for the same recipe (picture, neck, configuration, device, seed),
and made again from the recipe when dropped; a session's gr.State holds only an AnalysisRef."""
from __future__ import annotations

import gc
import os
import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import pytest
import torch

from necklab.lab import analysis as lab
from necklab.lab.analysis import AnalysisRef, keep_analysis, keep_picture, kept_analysis, rerun, shared_analysis
from necklab.lab.cache import LRU, sweep
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session, SessionBox


def test_the_cache_keeps_within_its_byte_budget_and_always_the_newest():
    cache: LRU[str, bytes] = LRU(10, budget=100, weigh=len)
    for name in "abc":
        cache.get_or_make(name, lambda: bytes(40))
    assert list(cache) == ["b", "c"] and cache.nbytes == 80
    cache.get_or_make("huge", lambda: bytes(500))  # over the budget alone: kept, everything else goes
    assert list(cache) == ["huge"]


def test_a_sweep_drops_what_nobody_used_for_its_idle_time():
    cache: LRU[str, int] = LRU(10, idle=60)
    forever: LRU[str, int] = LRU(10)  # no idle limit: a sweep leaves it alone (the models' cache)
    for name in "abc":
        cache.get_or_make(name, lambda: 1)
        forever.get_or_make(name, lambda: 1)
    start = cache.used["a"]
    cache.used["b"] = start + 50  # asked for 50 s later
    assert cache.drop_idle(now=start + 59) == 0 and list(cache) == ["a", "b", "c"]
    assert cache.drop_idle(now=start + 61) == 2 and list(cache) == ["b"]
    assert cache.find("a") is None and cache.get_or_make("a", lambda: 2) == 2  # made again when asked
    sweep(now=start + 1000)  # every cache with an idle limit (other caches' counts vary)
    assert list(cache) == [] and list(forever) == ["a", "b", "c"]


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the process's RSS from /proc")
def test_the_memory_of_idle_analyses_goes_back_to_the_system(chelsea, monkeypatch):
    shared_analysis(chelsea, "fpn", {"out_channels": 64})  # warm: the backbone loaded, the features cached
    monkeypatch.setattr(lab, "_analyses", LRU(512, budget=10**10, weigh=lambda a: a.nbytes, idle=60))
    gc.collect()
    before = rss_mib()
    made = [shared_analysis(chelsea, "fpn", {"out_channels": c}) for c in (160, 192, 224, 256)]
    held = sum(a.nbytes for a in made) / 2**20
    del made
    grown = rss_mib()
    assert grown - before > 0.5 * held  # the analyses' tensors are in the process
    sweep(now=time.monotonic() + 61)
    assert len(lab._analyses) == 0 and rss_mib() - before < 0.5 * (grown - before)


@pytest.fixture()
def kept(chelsea, monkeypatch):
    """An empty cache of analyses for the test, and the sample picture kept as a session would."""
    monkeypatch.setattr(lab, "_analyses", LRU(512, budget=10**9, weigh=lambda a: a.nbytes))
    keep_picture(chelsea)
    return lab._analyses


def test_sessions_asking_for_one_recipe_share_one_analysis(chelsea, kept):
    first = shared_analysis(chelsea, "fpn", {"num_outs": 5})
    assert shared_analysis(chelsea, "fpn", {"num_outs": 5}) is first
    assert shared_analysis(chelsea, "fpn", {"num_outs": 6}) is not first
    assert kept.nbytes == first.nbytes + shared_analysis(chelsea, "fpn", {"num_outs": 6}).nbytes
    heads = sum(t.numel() * 4 for t in first.answers.heatmaps.values()) if first.answers else 0
    assert first.nbytes == sum(t.numel() * 4 for t in first.trace.tensors.values()) + heads  # float32 maps


def test_a_dropped_analysis_is_made_again_from_its_recipe(chelsea, kept):
    ref = keep_analysis(shared_analysis(chelsea, "pafpn"))
    before = {k: v.clone() for k, v in kept_analysis(ref).trace.tensors.items()}
    kept.clear()
    again = kept_analysis(ref)
    assert again is not None and keep_analysis(again) == ref  # the same key: panels need not redraw
    assert all(torch.equal(again.trace[k], v) for k, v in before.items())


def test_an_edited_copy_that_was_dropped_asks_for_a_new_run(chelsea, kept):
    base = shared_analysis(chelsea, "bifpn")
    edited = rerun(base, lab.neck_on("bifpn", base.config, base.device, base.seed))
    ref = keep_analysis(edited)
    assert ref.recipe is None and ref != keep_analysis(base) and kept_analysis(ref) is edited
    kept.clear()
    assert kept_analysis(ref) is None


@dataclass(frozen=True)
class Ran:
    state: object
    words: str


def test_a_state_receives_a_reference_and_a_handler_the_analysis(chelsea, kept):
    """`event` is where Gradio meets the handlers: what goes to a gr.State is an AnalysisRef, what a
    handler gets back from it is the Analysis."""
    state, words = gr.State(None), gr.Markdown()
    shows = Shows(Ran, state=state, words=words)

    def run(session: Session) -> Ran:
        return Ran(state=shared_analysis(chelsea, "fpn"), words="ran")

    def read(session: Session, analysis) -> str:
        return f"{type(analysis).__name__} with {len(analysis.trace.tensors)} maps"

    updates = event(run, shows)(SessionBox())
    assert isinstance(updates[state], AnalysisRef) and updates[words] == "ran"
    assert event(read)(SessionBox(), updates[state]).startswith("Analysis with ")


def test_every_handler_that_reads_a_state_meets_it_through_event_or_reading():
    """A gr.State may hold an AnalysisRef: a handler given the State's value raw would get the
    reference, not the analysis (Next, the jump buttons and NAS-FPN's stage list once did)."""
    import app

    def unwrapped(fn: object) -> bool:  # events merged by `together` run their parts, each checked
        parts = getattr(fn, "parts", None)
        return any(map(unwrapped, parts)) if parts is not None else not hasattr(fn, "__wrapped__")

    raw = [fn.name for fn in app.build_app().fns.values() if fn.fn is not None
           and any(isinstance(c, gr.State) for c in fn.inputs) and unwrapped(fn.fn)]
    assert not raw, raw
