"""Shared fixtures: the real backbone and real features of the sample pictures."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from necks.analysis import run_backbone
from necks.backbone import EfficientNetLite0, build_backbone
from necks.imaging import Picture, decode

torch.set_num_threads(2)
SAMPLES = Path(__file__).resolve().parent.parent / "assets" / "samples"


@pytest.fixture(scope="session")
def backbone() -> EfficientNetLite0:
    return build_backbone()


@pytest.fixture(scope="session")
def chelsea() -> Picture:
    return decode(SAMPLES / "chelsea.png")


@pytest.fixture(scope="session")
def chelsea_features(chelsea):
    return run_backbone(chelsea).features
