"""One forward pass fills a trace: every node's tensor in execution order, plus view extras.

Necks call `record(node_id, tensor, **extras)` as they compute. Outside `tracing()` that is a no-op,
so a neck costs nothing extra when it is timed or used as a plain module. The active trace lives in
a context variable, so concurrent requests (Gradio worker threads) never see each other's trace.

A trace stores detached tensors, so keeping one does not keep the autograd graph alive.
`tracing(keep_graph=True)` stores them as they are instead: then every node's tensor stays
differentiable, which is how the effective receptive field reaches intermediate nodes.
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
    keep_graph: bool = False  # store tensors attached to the autograd graph instead of detached

    @property
    def order(self) -> list[str]:
        return list(self.tensors)

    def __getitem__(self, node_id: str) -> Tensor:
        return self.tensors[node_id]


_active: ContextVar[Trace | None] = ContextVar("necklab_trace", default=None)


def record(node_id: str, tensor: Tensor, **extras: Any) -> Tensor:
    """Store a node's tensor (detached unless the trace keeps the graph) in the active trace;
    returns the tensor unchanged."""
    trace = _active.get()
    if trace is not None:
        if node_id in trace.tensors:
            raise RuntimeError(f"node {node_id!r} recorded twice")

        def keep(t: Tensor) -> Tensor:
            return t if trace.keep_graph else t.detach()

        trace.tensors[node_id] = keep(tensor)
        if extras:
            trace.extras[node_id] = {k: keep(v) if isinstance(v, Tensor) else v for k, v in extras.items()}
    return tensor


def active() -> Trace | None:
    """The trace this thread is recording into, if any."""
    return _active.get()


def recording() -> bool:
    """True inside `tracing()`: lets a neck skip extras that cost work when nobody records them."""
    return _active.get() is not None


@contextmanager
def tracing(keep_graph: bool = False) -> Iterator[Trace]:
    """Record every node of the forward passes run inside; `keep_graph` keeps them differentiable."""
    trace = Trace(keep_graph=keep_graph)
    token = _active.set(trace)
    try:
        yield trace
    finally:
        _active.reset(token)
