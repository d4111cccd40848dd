"""Shared fixtures: the real backbone and real features of the sample pictures."""
from __future__ import annotations

import os
from pathlib import Path

# gradio_client builds huggingface_hub headers, which fetch a registry from huggingface.co unless
# offline: the tests' clients, like the app, reach nothing but 127.0.0.1 (tests/test_offline.py).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from gradio.processing_utils import save_file_to_cache
from gradio.utils import get_upload_folder
from PIL import Image

from necklab.lab.analysis import run_backbone
from necklab.lab.imaging import Picture, decode
from necklab.models.backbone import EfficientNetLite0, build_backbone

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


def upload(path: str | Path) -> dict:
    """What an event running without preprocessing receives for an upload of `path`: a FileData
    dict whose file Gradio has copied into its upload cache (the only place the app reads from)."""
    path = Path(path)
    cached = save_file_to_cache(path, cache_dir=get_upload_folder())
    return {"path": cached, "orig_name": path.name, "size": path.stat().st_size, "mime_type": None,
            "url": None, "is_stream": False, "meta": {"_type": "gradio.FileData"}}


def pixels(value: np.ndarray | str) -> np.ndarray:
    """A figure a handler shows: an array as it is, a PNG file it sends (`drawn_file`) read back."""
    return value if isinstance(value, np.ndarray) else np.asarray(Image.open(value).convert("RGB"))


def sent_images(updates: dict) -> list[np.ndarray]:
    """The pictures a handler's updates send: arrays, or the PNG files image outputs go out as
    (`necklab.widgets.common.sent_image`), read back."""
    return [pixels(value) for value in updates.values()
            if isinstance(value, np.ndarray) or (isinstance(value, str) and value.endswith(".png")
                                                 and Path(value).is_file())]


def sent_texts(updates: dict) -> list[str]:
    """The texts among a handler's updates (not the PNG files images go out as)."""
    return [v for v in updates.values() if isinstance(v, str) and not (v.endswith(".png") and Path(v).is_file())]
