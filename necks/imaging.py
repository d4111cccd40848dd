"""Picture decoding with a size policy (Pillow), and the exact map back to the original picture.

Policy: EXIF orientation applied; every mode converted to RGB (alpha composited on white, 16-bit
grey scaled to 8 bits, CMYK through Pillow's conversion); animated or multi-page files give their
first frame; the longest side is downscaled to `max_side` (default 1024, never upscaled); pictures
whose shorter side is below `min_side` (32 px, the backbone's coarsest stride) are upscaled to it
with nearest-neighbour, so each original pixel stays a visible block. Anything Pillow cannot read
raises `ImageError` with a message naming the problem.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

MAX_SIDE = 1024
MIN_SIDE = 32
# Decompression-bomb guard: refuse pictures above this many pixels before decoding them.
MAX_PIXELS = 64_000_000


class ImageError(ValueError):
    """A picture that cannot be analysed; the message says why and what to do."""


@dataclass(frozen=True)
class Picture:
    """An RGB picture ready for the backbone and the scale that maps it back to the original.

    `scale` is analysed size / original size (same on both axes up to rounding: `scale_xy` is
    exact). A feature-map cell's position in analysed pixels divides by scale_xy to land on the
    original picture.
    """

    rgb: np.ndarray  # H×W×3 uint8, the analysed picture
    original_size: tuple[int, int]  # (width, height) after EXIF orientation
    source_format: str
    frames: int  # frames or pages in the file (only the first is used)

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    @property
    def scale_xy(self) -> tuple[float, float]:
        return self.size[0] / self.original_size[0], self.size[1] / self.original_size[1]

    def tensor(self) -> torch.Tensor:
        """1×3×H×W float tensor in [0, 1]."""
        return torch.from_numpy(self.rgb).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale the actual range to 0–255 instead of clipping at 255.
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        im = Image.fromarray(a.round().astype(np.uint8), "L")
    elif im.mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
        im = Image.fromarray(a.round().astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("LA", "La", "PA"):
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "RGBa"):
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im.convert("RGBA")).convert("RGB")
    return im.convert("RGB")


# Downscaling first reduces by a whole factor (box filter) while the picture stays at least this many
# times the target, then LANCZOS: Pillow's documented fast path, near-identical to LANCZOS alone.
REDUCING_GAP = 3.0


def _fit(im: Image.Image, max_side: int, min_side: int, uploaded: tuple[int, int] | None = None) -> Image.Image:
    """The size policy; `uploaded` is the picture's full size where `im` was decoded smaller (JPEG draft)."""
    w, h = im.size
    uploaded = uploaded or im.size
    if max(uploaded) > max_side:
        s = max_side / max(uploaded)
        size = (max(1, round(uploaded[0] * s)), max(1, round(uploaded[1] * s)))
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
        w, h = im.size
    if min(w, h) < min_side:
        s = min_side / min(w, h)
        new = (max(min_side, math.ceil(w * s)), max(min_side, math.ceil(h * s)))
        if max(new) > max_side:
            raise ImageError(
                f"The picture is {uploaded[0]}×{uploaded[1]} pixels: too thin to analyse. Make its shorter side at least "
                f"{min_side} px while the longer side stays within {max_side} px (aspect ratio at most "
                f"{max_side // min_side}:1).")
        im = im.resize(new, Image.Resampling.NEAREST)
    return im


def _draft(im: Image.Image, max_side: int) -> tuple[int, int]:
    """Let a large JPEG decode at the smallest DCT scale (1/2, 1/4 or 1/8) that still covers the
    analysed size, so a 4096² photo is never decoded in full; returns the full size after EXIF
    orientation, which `_fit` scales from."""
    w, h = im.size
    turned = im.getexif().get(ExifTags.Base.Orientation, 1) in (5, 6, 7, 8)
    if im.format == "JPEG" and max(w, h) > max_side:
        s = max_side / max(w, h)
        im.draft(im.mode, (math.ceil(w * s), math.ceil(h * s)))
    return (h, w) if turned else (w, h)


def decode(source: str | os.PathLike | bytes, max_side: int = MAX_SIDE, min_side: int = MIN_SIDE) -> Picture:
    """Decode a picture file (path or bytes) into an RGB `Picture` following the size policy."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as e:
        raise ImageError(f"The file could not be read ({e.strerror or e}).") from None
    if not data:
        raise ImageError("The file is empty (0 bytes). Choose a picture file such as PNG or JPEG.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            fmt = im.format or "unknown"
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise ImageError(
                    f"The picture is {w}×{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                    f"{MAX_PIXELS / 1e6:.0f}. Scale it down before uploading.")
            frames = getattr(im, "n_frames", 1)
            im.seek(0)
            original = _draft(im, max_side)
            im.load()
            im = ImageOps.exif_transpose(im)
            rgb = _fit(_to_rgb(im), max_side, min_side, original)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError("The picture declares more pixels than is safe to decode (a possible "
                         "decompression bomb). Scale it down before uploading.") from None
    except UnidentifiedImageError:
        raise ImageError("This file is not a picture Pillow can read. Upload a PNG, JPEG, WebP, GIF, "
                         "BMP or TIFF file (PDF and SVG are not supported).") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"The picture file is damaged or truncated ({e}). Re-export it and try "
                         "again.") from None
    return Picture(np.asarray(rgb, dtype=np.uint8).copy(), original, fmt, frames)


def rescaled(picture: Picture, factor: float, min_side: int = MIN_SIDE) -> Picture:
    """The same picture analysed at `factor` times its size (at least `min_side` px a side), still
    mapped onto the original picture: for lessons that compare sizes."""
    h, w = picture.rgb.shape[:2]
    size = (max(min_side, round(w * factor)), max(min_side, round(h * factor)))
    rgb = Image.fromarray(picture.rgb).resize(size, Image.Resampling.LANCZOS)
    return Picture(np.asarray(rgb).copy(), picture.original_size, picture.source_format, picture.frames)
