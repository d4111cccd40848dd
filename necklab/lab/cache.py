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
    (two builds of one neck would give two models; only one would be cached)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self.lock = Lock()
        self.making: dict[K, Lock] = {}

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
            with self.lock:
                self[key] = value
                self.making.pop(key, None)
                while len(self) > self.size:
                    self.popitem(last=False)
        return value

    def find(self, key: K) -> V | None:
        """The value kept for `key` (now the most recently used), or None."""
        with self.lock:
            if key not in self:
                return None
            self.move_to_end(key)
            return self[key]
