"""The process's bounded caches: one small LRU, shared by the models, features, FLOP counts,
pictures and drawn graphs that many browser sessions ask for at once."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from threading import Lock
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(OrderedDict[K, V]):
    """A small thread-safe LRU whose values are made once per key, even when sessions ask at once
    (two builds of one neck would give two models; only one would be cached). It keeps at most
    `size` values and, with `weigh`, at most `budget` bytes of them (the newest always stays)."""

    def __init__(self, size: int, budget: int | None = None, weigh: Callable[[V], int] | None = None) -> None:
        super().__init__()
        self.size, self.budget, self.weigh = size, budget, weigh
        self.lock = Lock()
        self.making: dict[K, Lock] = {}
        self.weights: dict[K, int] = {}

    @property
    def nbytes(self) -> int:
        """The bytes the kept values weigh (0 without `weigh`)."""
        return sum(self.weights.values())

    def _evict(self) -> None:
        over_budget = self.budget is not None and self.nbytes > self.budget
        while len(self) > self.size or (over_budget and len(self) > 1):
            key, _ = self.popitem(last=False)
            self.weights.pop(key, None)
            over_budget = self.budget is not None and self.nbytes > self.budget

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        with self.lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
            key_lock = self.making.setdefault(key, Lock())
        with key_lock:
            with self.lock:
                if key in self:  # made while this thread waited
                    self.move_to_end(key)
                    return self[key]
            value = make()
            weight = self.weigh(value) if self.weigh is not None else 0
            with self.lock:
                self[key] = value
                self.weights[key] = weight
                self.making.pop(key, None)
                self._evict()
        return value

    def discard(self, key: K) -> None:
        """Forget the value kept for `key` (if any): the next `get_or_make` makes it again."""
        with self.lock:
            self.pop(key, None)
            self.weights.pop(key, None)

    def find(self, key: K) -> V | None:
        """The value kept for `key` (now the most recently used), or None."""
        with self.lock:
            if key not in self:
                return None
            self.move_to_end(key)
            return self[key]
