"""Picture decoding with a size policy (Pillow), and the exact map back to the original picture.

Policy: EXIF orientation applied; every mode converted to RGB (alpha composited on white, 16-bit
grey scaled to 8 bits, CMYK through Pillow's conversion); animated or multi-page files give their
first frame; the longest side is downscaled to `max_side` (default 1024, never upscaled); pictures
whose shorter side is below `min_side` (32 px, the backbone's coarsest stride) are upscaled to it
with nearest-neighbour, so each original pixel stays a visible block. Anything Pillow cannot read
raises `ImageError` naming the problem (PDF, SVG and HEIC are recognised by name) by a key of the
language files' `image` area, worded in either language.

Memory: a JPEG is decoded at 1/2, 1/4 or 1/8 size when that still covers `max_side` (libjpeg's
own reduction), so a 100-megapixel phone panorama costs a few megabytes. Any picture that would
still decode to more than MAX_PIXELS is refused before decoding, and Pillow's own decompression-
bomb limit (2 × Image.MAX_IMAGE_PIXELS) refuses files that merely declare a huge size.
"""
from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from necklab.i18n import t

MAX_SIDE = 1024
MIN_SIDE = 32
# Decompression-bomb guard: refuse pictures that would decode to more pixels than this.
MAX_PIXELS = 64_000_000
ORIENTATION = 0x0112  # EXIF tag; values 5–8 swap width and height
# Formats Pillow cannot read here but users do upload, by their file signature: the key of what to
# do instead.
UNREADABLE: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda head: head.startswith(b"%PDF"), "pdf"),
    (lambda head: b"<svg" in head[:1024].lower(), "svg"),
    (lambda head: head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"),
     "heic"),
)
# Signatures of formats Pillow reads: such a file that Pillow cannot identify is damaged, not foreign.
SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"II*\x00": "TIFF",
              b"MM\x00*": "TIFF", b"BM": "BMP"}


class ImageError(ValueError):
    """A picture that cannot be analysed: why and what to do, as `image.<key>` of the language files
    with its `fields`. `str()` is the English message; `text(lang)` words it in any language."""

    def __init__(self, key: str, **fields: Any) -> None:
        self.key, self.fields = key, fields
        super().__init__(self.text("en"))

    def text(self, lang: str = "en") -> str:
        return t(f"image.{self.key}", lang, **self.fields)

    def worded(self, lang: str) -> ImageError:
        """The same error whose message (`str()`) is in `lang`, for callers that raise it on."""
        error = ImageError(self.key, **self.fields)
        error.args = (self.text(lang),)
        return error

    def __reduce__(self) -> tuple[Callable[[str, dict[str, Any]], ImageError], tuple[str, dict[str, Any]]]:
        return _image_error, (self.key, self.fields)  # pickles by key and fields, not by the message


def _image_error(key: str, fields: dict[str, Any]) -> ImageError:
    return ImageError(key, **fields)


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

    @cached_property
    def pixels_key(self) -> str:
        """A key for the pixels the backbone sees, hashed once per picture (every cache and every
        session check asks for it)."""
        return hashlib.sha1(self.rgb.tobytes() + repr(self.rgb.shape).encode()).hexdigest()

    @property
    def key(self) -> str:
        """A key for the picture as decoded: its pixels and what the file said about them."""
        return f"{self.pixels_key}-{self.original_size[0]}x{self.original_size[1]}-{self.source_format}-{self.frames}"

    def tensor(self) -> torch.Tensor:
        """1×3×H×W float tensor in [0, 1]."""
        return torch.from_numpy(self.rgb).permute(2, 0, 1).unsqueeze(0).float().div(255.0)


# Grey with more than 8 bits (16-bit, 32-bit integer, float): fitted to size in its own mode, then
# its actual range is scaled to 0–255 by Pillow's point transform: no full-size float copy.
WIDE_GREY = ("I;16", "I;16B", "I;16L", "I", "F")


def _wide_grey_to_8_bit(im: Image.Image) -> Image.Image:
    if im.mode == "F":  # NaN or inf would poison the range: they become 0, as before
        a = np.asarray(im)
        if not np.isfinite(a).all():
            im = Image.fromarray(np.nan_to_num(a, posinf=0.0, neginf=0.0).astype(np.float32), "F")
    elif im.mode != "I":
        im = im.convert("I")  # Pillow's point transform works on 32-bit modes
    lo, hi = cast(tuple[float, float], im.getextrema())  # one band: (min, max)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return im.point(lambda v: v * scale - lo * scale + 0.5).convert("L")  # + 0.5: rounded, not cut


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in WIDE_GREY:
        im = _wide_grey_to_8_bit(im)
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


def _fit(im: Image.Image, max_side: int, min_side: int, uploaded: tuple[int, int]) -> Image.Image:
    """The size policy; `uploaded` is the picture's full upright size (`im` may be decoded smaller: JPEG draft)."""
    w, h = im.size
    if max(uploaded) > max_side:
        s = max_side / max(uploaded)
        size = (max(1, round(uploaded[0] * s)), max(1, round(uploaded[1] * s)))
        # Pillow cannot reduce 16-bit modes; those are resized in one (slower, copy-free) LANCZOS pass.
        gap = None if im.mode.startswith("I;16") else REDUCING_GAP
        im = im.resize(size, Image.Resampling.LANCZOS, reducing_gap=gap)
        w, h = im.size
    if min(w, h) < min_side:
        s = min_side / min(w, h)
        new = (max(min_side, math.ceil(w * s)), max(min_side, math.ceil(h * s)))
        if max(new) > max_side:
            raise ImageError("too_thin", w=uploaded[0], h=uploaded[1], min_side=min_side, max_side=max_side,
                             ratio=max_side // min_side)
        im = im.resize(new, Image.Resampling.NEAREST)
    return im


def _upright_size(im: Image.Image) -> tuple[int, int]:
    """The stored size as displayed, i.e. after the EXIF orientation (read before any decoding)."""
    w, h = im.size
    return (h, w) if im.getexif().get(ORIENTATION, 1) in (5, 6, 7, 8) else (w, h)


def _reduce_while_decoding(im: Image.Image, max_side: int) -> None:
    """Let libjpeg decode at 1/2, 1/4 or 1/8 scale when the result still covers `max_side`."""
    w, h = im.size
    if im.format == "JPEG" and max(w, h) > max_side:
        s = max_side / max(w, h)
        im.draft(None, (max(1, math.ceil(w * s)), max(1, math.ceil(h * s))))


def unreadable_error(data: bytes) -> ImageError:
    """What to say about a file Pillow cannot identify."""
    for matches, key in UNREADABLE:
        if matches(data[:1024]):
            return ImageError(key)
    for signature, name in SIGNATURES.items():
        if data.startswith(signature):
            return ImageError("bad_header", name=name)
    return ImageError("not_picture")


def _bomb_limit() -> str:
    """Pillow's decompression-bomb limit in megapixels: it refuses pictures over twice MAX_IMAGE_PIXELS."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is None:  # the check switched off (Pillow's option; never here): no limit to name
        raise TypeError("Pillow's decompression-bomb check is off (Image.MAX_IMAGE_PIXELS is None)")
    return f"{2 * limit / 1e6:.0f}"


def decode(source: str | os.PathLike[str] | bytes, max_side: int = MAX_SIDE, min_side: int = MIN_SIDE) -> Picture:
    """Decode a picture file (path or bytes) into an RGB `Picture` following the size policy."""
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as e:
        raise ImageError("unreadable", reason=str(e.strerror or e)) from None
    if not data:
        raise ImageError("empty")
    try:
        with warnings.catch_warnings():
            # Above Pillow's warning level the size check below decides (a JPEG may decode reduced).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im: Image.Image = Image.open(io.BytesIO(data))
        fmt = im.format or "unknown"
        original = _upright_size(im)
        _reduce_while_decoding(im, max_side)
        w, h = im.size
        if w * h > MAX_PIXELS:
            ow, oh = original
            raise ImageError("too_many_pixels", w=ow, h=oh, megapixels=f"{ow * oh / 1e6:.0f}",
                             limit=f"{MAX_PIXELS / 1e6:.0f}", jpeg=_bomb_limit())
        frames = getattr(im, "n_frames", 1)
        im.seek(0)
        im.load()
        im = ImageOps.exif_transpose(im)
        # Wide grey is fitted first (its 8-bit conversion then touches only the fitted pixels);
        # everything else is converted first (a palette picture must not be resized as indices).
        rgb = (_to_rgb(_fit(im, max_side, min_side, original)) if im.mode in WIDE_GREY
               else _fit(_to_rgb(im), max_side, min_side, original))
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError("bomb", limit=_bomb_limit()) from None
    except UnidentifiedImageError:
        raise unreadable_error(data) from None
    except MemoryError:
        raise ImageError("no_memory") from None
    except Exception as e:  # noqa: BLE001 — a hostile file can break any decoder step; say so, never crash
        raise ImageError("damaged", reason=str(e)) from None
    return Picture(np.asarray(rgb, dtype=np.uint8).copy(), original, fmt, frames)


def rescaled(picture: Picture, factor: float, min_side: int = MIN_SIDE) -> Picture:
    """The same picture analysed at `factor` times its size (at least `min_side` px a side), still
    mapped onto the original picture: for lessons that compare sizes."""
    h, w = picture.rgb.shape[:2]
    size = (max(min_side, round(w * factor)), max(min_side, round(h * factor)))
    rgb = Image.fromarray(picture.rgb).resize(size, Image.Resampling.LANCZOS)
    return Picture(np.asarray(rgb).copy(), picture.original_size, picture.source_format, picture.frames)
