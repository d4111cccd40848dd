"""Trained weights: which neck configurations have them, and loading them safely.

`assets/weights/manifest.json` lists, per neck, the configuration its weights were trained at, the
task, data recipe, seed, steps, wall time, held-out metrics and the file's SHA-256; the files are
fp16 state dicts of the neck's trainable tensors and its head (`necklab.train` writes both). A
configuration other than the trained one, a missing file, a changed hash or a file that does not fit
the model is a `WeightsUnavailable` with its reason — the caller runs fresh weights and says why.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from necklab import ASSETS

WEIGHTS_DIR = ASSETS / "weights"
MANIFEST = "manifest.json"
TRAINED, FRESH = "trained", "fresh"
CHOICES = (TRAINED, FRESH)


class WeightsUnavailable(Exception):
    """Why trained weights cannot be used: `reason` is a key under `weights.` in the language files."""

    def __init__(self, reason: str, **fields: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields


def plain(value: Any) -> Any:
    """A configuration (or one of its values) as JSON keeps it (tuples become lists), for comparing
    configurations."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def same_config(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return bool(plain(a) == plain(b))


def read_manifest(folder: Path = WEIGHTS_DIR) -> dict[str, dict[str, Any]]:
    """The manifest's entries by neck name; {} when there is none."""
    path = folder / MANIFEST
    if not path.is_file():
        return {}
    entries: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["necks"]
    return entries


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Trained:
    """A neck's trained tensors (its own and its head's, keyed `neck.…` / `head.…`) and their entry."""

    state: dict[str, Tensor]
    entry: dict[str, Any]


def trained_weights(name: str, config: Mapping[str, Any], folder: Path = WEIGHTS_DIR) -> Trained:
    """The trained weights of neck `name` at `config`, checked against the manifest (configuration,
    hash) and loaded with `weights_only=True`; `WeightsUnavailable` says why not."""
    entry = read_manifest(folder).get(name)
    if entry is None:
        raise WeightsUnavailable("none_for_neck")
    if not same_config(entry["config"], config):
        raise WeightsUnavailable("other_config")
    return Trained(_load(folder / entry["file"], entry["sha256"]), entry)


@lru_cache(maxsize=16)  # a file is read and hashed once per process (the files are a few MB)
def _load(path: Path, expected_hash: str) -> dict[str, Tensor]:
    if not path.is_file():
        raise WeightsUnavailable("missing_file", file=path.name)
    if sha256(path) != expected_hash:
        raise WeightsUnavailable("bad_hash", file=path.name)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a truncated or foreign file: any unpickling error means the same
        raise WeightsUnavailable("unreadable", file=path.name) from error
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise WeightsUnavailable("unreadable", file=path.name)
    return {k: v.float() for k, v in state.items()}


def load_into(module: nn.Module, state: Mapping[str, Tensor],
              frozen: Callable[[str], bool] = lambda key: False) -> None:
    """Copy `state` into `module`: it must hold exactly the module's tensors that are not `frozen`,
    with the same shapes, or `WeightsUnavailable('mismatch')`."""
    own = {k: v for k, v in module.state_dict().items() if not frozen(k)}
    if set(own) != set(state) or any(own[k].shape != state[k].shape for k in own):
        raise WeightsUnavailable("mismatch")
    module.load_state_dict(dict(state), strict=False)

