"""One forward pass fills a trace: every node's tensor in execution order, plus view extras.

Necks call `record(node_id, tensor, **extras)` as they compute. Outside `tracing()` that is a no-op,
so a neck costs nothing extra when it is timed or used as a plain module. The active trace lives in
a context variable, so concurrent requests (Gradio worker threads) never see each other's trace.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor


@dataclass
class Trace:
    tensors: dict[str, Tensor] = field(default_factory=dict)  # insertion order = execution order
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def order(self) -> list[str]:
        return list(self.tensors)

    def __getitem__(self, node_id: str) -> Tensor:
        return self.tensors[node_id]


_active: ContextVar[Trace | None] = ContextVar("necklab_trace", default=None)


def record(node_id: str, tensor: Tensor, **extras: Any) -> Tensor:
    """Store a node's tensor (detached) in the active trace; returns the tensor unchanged."""
    trace = _active.get()
    if trace is not None:
        if node_id in trace.tensors:
            raise RuntimeError(f"node {node_id!r} recorded twice")
        trace.tensors[node_id] = tensor.detach()
        if extras:
            trace.extras[node_id] = {k: v.detach() if isinstance(v, Tensor) else v for k, v in extras.items()}
    return tensor


def recording() -> bool:
    """True inside `tracing()`: lets a neck skip extras that cost work when nobody records them."""
    return _active.get() is not None


@contextmanager
def tracing() -> Iterator[Trace]:
    trace = Trace()
    token = _active.set(trace)
    try:
        yield trace
    finally:
        _active.reset(token)
