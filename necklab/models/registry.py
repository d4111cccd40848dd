"""The neck zoo: every neck module's `SPECS`, collected in registry order.

A neck is a plugin: a module in `necklab/models/necks/` that lists its `SPECS` is found here and so
appears in the app's tabs, Compare, the quiz, the packs and the API. `register` adds one from
elsewhere (a course's own neck, the tests' toy neck).
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from torch import nn

from necklab.models import necks as builtin_necks
from necklab.models.layers import Neck, seeded
from necklab.models.spec import Control, NeckSpec

__all__ = ["NECKS", "Control", "NeckSpec", "build_neck", "neck_parameters", "register", "unregister"]

NECKS: dict[str, NeckSpec] = {}


def register(spec: NeckSpec) -> NeckSpec:
    """Add a neck to the zoo (kept in `order`); a second neck with the same key is refused."""
    if spec.name in NECKS and NECKS[spec.name] is not spec:
        raise ValueError(f"a neck named {spec.name!r} is registered already")
    NECKS[spec.name] = spec
    ranked = sorted(NECKS.values(), key=lambda s: s.order)  # stable: equal orders keep arrival order
    NECKS.clear()
    NECKS.update((s.name, s) for s in ranked)
    return spec


def unregister(name: str) -> None:
    NECKS.pop(name, None)


def _discover() -> None:
    for module in pkgutil.iter_modules(builtin_necks.__path__):
        for spec in getattr(importlib.import_module(f"{builtin_necks.__name__}.{module.name}"), "SPECS", ()):
            register(spec)


def build_neck(name: str, seed: int | None = 0, **config: Any) -> Neck:
    """Build a neck in eval mode. With `seed`, its fresh initialisation is reproducible and leaves
    the global random state untouched."""
    if name not in NECKS:
        raise KeyError(f"unknown neck {name!r}; choose from {', '.join(NECKS)}")
    return seeded(NECKS[name].build, seed, **config)


def neck_parameters(neck: nn.Module) -> int:
    """Parameters of the neck itself: a re-run backbone (Recursive-FPN) is not counted."""
    return neck.parameter_count if isinstance(neck, Neck) else sum(p.numel() for p in neck.parameters())


_discover()
