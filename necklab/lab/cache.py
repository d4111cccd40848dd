"""The process's bounded caches: one small LRU, shared by the models, features, FLOP counts,
pictures and drawn graphs that many browser sessions ask for at once.

A cache of what one picture costs (analyses, features, drawn frames) also forgets what nobody used
for `idle` seconds, once `sweep` runs (every SWEEP_EVERY s in a served app, `start_sweeper`): when a class
closes its browsers, their memory goes back to the system within minutes instead of staying until
the next class pushes it out."""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock, Thread
from typing import Any, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(OrderedDict[K, V]):
    """A small thread-safe LRU whose values are made once per key, even when sessions ask at once
    (two builds of one neck would give two models; only one would be cached). It keeps at most
    `size` values and, with `weigh`, at most `budget` bytes of them (the newest always stays); with
    `idle`, `sweep` drops the values unused for that many seconds."""

    def __init__(self, size: int, budget: int | None = None, weigh: Callable[[V], int] | None = None,
                 idle: float | None = None) -> None:
        super().__init__()
        self.size, self.budget, self.weigh, self.idle = size, budget, weigh, idle
        self.lock = Lock()
        self.making: dict[K, Lock] = {}
        self.weights: dict[K, int] = {}
        self.used: dict[K, float] = {}  # when each value was last asked for (time.monotonic)
        if idle is not None:
            _expiring[id(self)] = self

    @property
    def nbytes(self) -> int:
        """The bytes the kept values weigh (0 without `weigh`)."""
        return sum(self.weights.values())

    def _evict(self) -> None:
        over_budget = self.budget is not None and self.nbytes > self.budget
        while len(self) > self.size or (over_budget and len(self) > 1):
            self._forget(next(iter(self)))
            over_budget = self.budget is not None and self.nbytes > self.budget

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        with self.lock:
            if key in self:
                return self._use(key)
            key_lock = self.making.setdefault(key, Lock())
        with key_lock:
            with self.lock:
                if key in self:  # made while this thread waited
                    return self._use(key)
            value = make()
            weight = self.weigh(value) if self.weigh is not None else 0
            with self.lock:
                self[key] = value
                self.weights[key] = weight
                self.used[key] = time.monotonic()
                self.making.pop(key, None)
                self._evict()
        return value

    def _forget(self, key: K) -> None:
        """Drop `key`'s value and what is kept about it (call with the lock held)."""
        self.pop(key, None)
        self.weights.pop(key, None)
        self.used.pop(key, None)

    def _use(self, key: K) -> V:
        """The value of `key`, now the most recently used (call with the lock held)."""
        self.move_to_end(key)
        self.used[key] = time.monotonic()
        return self[key]

    def discard(self, key: K) -> None:
        """Forget the value kept for `key` (if any): the next `get_or_make` makes it again."""
        with self.lock:
            self._forget(key)

    def find(self, key: K) -> V | None:
        """The value kept for `key` (now the most recently used), or None."""
        with self.lock:
            if key not in self:
                return None
            return self._use(key)

    def drop_idle(self, now: float | None = None) -> int:
        """Drop the values unused for `idle` seconds (none without `idle`); returns how many."""
        if self.idle is None:
            return 0
        now = time.monotonic() if now is None else now
        with self.lock:
            stale = [key for key in self if now - self.used.get(key, now) >= self.idle]
            for key in stale:
                self._forget(key)
        return len(stale)


# The caches with an idle limit, for `sweep` (weakly: a cache a test makes goes when it does).
_expiring: weakref.WeakValueDictionary[int, LRU[Any, Any]] = weakref.WeakValueDictionary()
# How long a value of a picture's cost stays unused before a sweep drops it (NECKLAB_IDLE_S): longer
# than a student reads one step, shorter than the minutes after a class in which memory should be back.
IDLE_S = float(os.environ.get("NECKLAB_IDLE_S", "120"))
SWEEP_EVERY = 20.0


def sweep(now: float | None = None) -> int:
    """Drop every idle value of every cache with an idle limit, and give the memory they held back
    to the system (glibc keeps freed memory in its arenas otherwise). Returns how many went."""
    dropped = sum(cache.drop_idle(now) for cache in list(_expiring.values()))
    if dropped:
        gc.collect()
        give_back_memory()
    return dropped


def give_back_memory() -> None:
    """Return the free pages of glibc's heaps to the system (`malloc_trim`; nothing elsewhere)."""
    name = ctypes.util.find_library("c")
    try:
        ctypes.CDLL(name).malloc_trim(0)
    except (OSError, AttributeError, TypeError):  # not glibc
        pass


def start_sweeper(every: float = SWEEP_EVERY) -> None:
    """A daemon thread calling `sweep` every `every` seconds for as long as the process runs."""

    def run() -> None:
        while True:
            time.sleep(every)
            sweep()

    Thread(target=run, name="necklab-sweeper", daemon=True).start()
