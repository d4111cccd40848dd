"""Hostile input: every bad or odd file a class uploads, through `decode` and through the Analyze
handler as Gradio calls it; every neck at every allowed configuration extreme on the smallest
picture. Each file is made here (Pillow, or bytes by hand), none is canned."""
from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from necklab.lab.analysis import keep_picture, run_backbone
from necklab.lab.imaging import MAX_SIDE, MIN_SIDE, ImageError, Picture, decode
from necklab.models.registry import NECKS, Control
from necklab.ui.backbone_tab import analyze
from necklab.ui.neck_tab import run_neck
from necklab.viz.maps import to_original
from necklab.widgets.session import Session, session_picture
from tests.conftest import SAMPLES, pixels, upload
from tests.test_imaging import encode

ROOT = Path(__file__).resolve().parent.parent
GREY = (124, 116, 104)  # ≈ the ImageNet mean: normalises to ~0, like the backbone's zero padding



def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any size, compressed row by row: a 20000×20000 file is a few
    tens of kilobytes, and nothing of its size is ever held in memory here."""
    z = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte + packed bits
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def corrupt_png_data() -> bytes:
    data = bytearray(encode(noise(64, 64)))
    start = data.index(b"IDAT") + 4
    data[start + 40] ^= 0xFF  # inside the compressed stream
    return bytes(data)


def corrupt_png_header_crc() -> bytes:
    data = bytearray(encode(noise(64, 64)))
    data[data.index(b"IHDR") + 4 + 13] ^= 0xFF  # the IHDR chunk's CRC
    return bytes(data)


def frames_file(fmt: str, colours: list[tuple[int, int, int]]) -> bytes:
    frames = [Image.new("RGB", (40, 40), c) for c in colours]
    kw = dict(duration=100, loop=0) if fmt == "GIF" else {}
    return encode(frames[0], fmt, save_all=len(frames) > 1, append_images=frames[1:], **kw)


def rgba_half_transparent() -> bytes:
    a = np.zeros((40, 40, 4), np.uint8)
    a[..., 1] = 255
    a[:, :20, 3] = 255  # green, opaque on the left, fully transparent on the right
    return encode(Image.fromarray(a, "RGBA"))


def palette_transparent() -> bytes:
    p = Image.new("P", (40, 40), 0)
    p.putpalette([0, 0, 255] + [255, 0, 0] * 255)
    p.paste(1, (0, 0, 20, 40))  # red left half, palette entry 0 (transparent) right half
    return encode(p, transparency=0)


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">' \
      b'<rect width="64" height="64" fill="red"/></svg>\n'
# A HEIF container's first box with the HEVC brand: no HEVC encoder exists here to make a full file,
# and Pillow rejects the container by its brand before reading further.
HEIC = struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + b"\x00" * 200


def pixel(rgb: tuple[int, int, int], near: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(int(a) - b) <= tol for a, b in zip(rgb, near))


# name → (file bytes, expected: an error message fragment, or a check of the decoded Picture)
Check = Callable[[Picture], bool]
CORPUS: dict[str, tuple[Callable[[], bytes], str | Check]] = {
    "empty.png": (lambda: b"", "empty \\(0 bytes\\)"),
    "text.png": (lambda: b"Dear teacher, here is my homework.\n" * 20, "not a picture"),
    "truncated.jpg": (lambda: encode(noise(64, 64), "JPEG")[:900], "damaged or truncated"),
    "truncated.png": (lambda: encode(noise(64, 64))[:2000], "damaged or truncated"),
    "corrupt-data.png": (corrupt_png_data, "damaged or truncated"),
    "corrupt-header.png": (corrupt_png_header_crc, "PNG picture but its header is damaged"),
    "drawing.svg": (lambda: SVG, "SVG drawing.*Export it as PNG"),
    "renamed-pdf.jpg": (lambda: encode(noise(64, 64), "PDF"), "PDF document.*Export the page"),
    "photo.heic": (lambda: HEIC, "HEIC photo.*Export it as JPEG"),
    "animated.gif": (lambda: frames_file("GIF", [(255, 0, 0), (0, 0, 255)]),
                     lambda p: p.frames == 2 and pixel(p.rgb[20, 20], (255, 0, 0))),
    "single.gif": (lambda: frames_file("GIF", [(0, 0, 255)]),
                   lambda p: p.frames == 1 and pixel(p.rgb[5, 5], (0, 0, 255))),
    "pages.tiff": (lambda: frames_file("TIFF", [(0, 255, 0), (255, 0, 0), (0, 0, 255)]),
                   lambda p: p.frames == 3 and pixel(p.rgb[20, 20], (0, 255, 0), 2)),
    "grey16.png": (lambda: encode(Image.fromarray((np.arange(48 * 48).reshape(48, 48) * 25).astype(np.uint16))),
                   lambda p: p.rgb.min() == 0 and p.rgb.max() == 255 and p.rgb[0, 1, 0] <= p.rgb[47, 47, 0]),
    "bilevel.png": (lambda: encode(Image.new("1", (40, 40), 1)), lambda p: (p.rgb == 255).all()),
    "palette-alpha.png": (palette_transparent, lambda p: pixel(p.rgb[5, 5], (255, 0, 0), 0)
                          and pixel(p.rgb[5, 35], (255, 255, 255), 0)),
    "rgba-transparent.png": (rgba_half_transparent, lambda p: pixel(p.rgb[5, 5], (0, 255, 0), 0)
                             and pixel(p.rgb[5, 35], (255, 255, 255), 0)),
    "cmyk.jpg": (lambda: encode(Image.new("CMYK", (48, 48), (0, 255, 255, 0)), "JPEG", quality=95),
                 lambda p: pixel(p.rgb[24, 24], (255, 0, 0), 60)),
    "1x1.png": (lambda: encode(Image.new("RGB", (1, 1), (9, 99, 199))),
                lambda p: p.size == (MIN_SIDE, MIN_SIDE) and (p.rgb == (9, 99, 199)).all()),
    "2x2.png": (lambda: encode(noise(2, 2)), lambda p: p.size == (MIN_SIDE, MIN_SIDE)
                and (p.rgb[:16, :16] == p.rgb[0, 0]).all()),  # each original pixel a 16×16 block
    "31x31.png": (lambda: encode(noise(31, 31)),
                  lambda p: p.size == (MIN_SIDE, MIN_SIDE) and p.original_size == (31, 31)),
    "1x5000.png": (lambda: encode(Image.new("RGB", (1, 5000))), "1×5000 pixels: too thin"),
    "5000x1.png": (lambda: encode(Image.new("RGB", (5000, 1))), "5000×1 pixels: too thin"),
    # 10000×10000: a JPEG decodes at 1/8 size (1250×1250, ~5 MB) and is accepted; a PNG cannot be
    # reduced while decoding, so at 100 megapixels (over MAX_PIXELS) it is refused before decoding.
    "10000x10000.jpg": (lambda: encode(Image.new("L", (10000, 10000), 200), "JPEG", quality=50),
                        lambda p: p.size == (MAX_SIDE, MAX_SIDE) and p.original_size == (10000, 10000)),
    "10000x10000.png": (lambda: bilevel_png(10000, 10000), "10000×10000 = 100 megapixels; the limit is 64"),
    "bomb.png": (lambda: bilevel_png(20000, 20000), "possible decompression bomb"),
    "photo.webp": (lambda: encode(Image.new("RGB", (64, 48), (0, 0, 255)), "WEBP", quality=90),
                   lambda p: p.source_format == "WEBP" and pixel(p.rgb[20, 20], (0, 0, 255), 10)),
    "photo.avif": (lambda: encode(Image.new("RGB", (64, 48), (255, 0, 0)), "AVIF", quality=90),
                   lambda p: p.source_format == "AVIF" and pixel(p.rgb[20, 20], (255, 0, 0), 20)),
}


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for name, (make, _) in CORPUS.items():
        (folder / name).write_bytes(make())
    return folder


@pytest.mark.parametrize("name", CORPUS)
def test_decode_gives_a_picture_or_says_what_to_do(name, corpus_dir):
    expected = CORPUS[name][1]
    if isinstance(expected, str):
        with pytest.raises(ImageError, match=expected) as e:
            decode(corpus_dir / name)
        assert any(w in str(e.value).lower() for w in ("choose", "upload", "export", "make", "scale")), \
            "the message must say what to do"
    else:
        picture = decode(corpus_dir / name)
        assert picture.rgb.dtype == np.uint8 and picture.rgb.ndim == 3 and picture.rgb.shape[2] == 3
        assert MIN_SIDE <= min(picture.size) and max(picture.size) <= MAX_SIDE
        assert expected(picture)


@pytest.mark.parametrize("name", CORPUS)
def test_the_analyze_handler_shows_the_message_or_the_analysis(name, corpus_dir):
    expected = CORPUS[name][1]
    if isinstance(expected, str):
        with pytest.raises(gr.Error, match=expected):
            analyze(Session(), upload(corpus_dir / name), "cpu", "C3")
    else:
        shown = analyze(Session(), upload(corpus_dir / name), "cpu", "C3")
        w, h = session_picture(shown.session)[0].size
        assert f"Analysed at {w}×{h} px" in shown.status and len(shown.top5) == 5
        assert [row[0] for row in shown.table] == ["C1", "C2", "C3", "C4", "C5"]
        assert pixels(shown.overview).ndim == 3 and pixels(shown.channels).std() > 10


def test_a_decompression_bomb_is_refused_without_allocating_its_pixels(corpus_dir):
    """In a fresh process: peak memory grows by far less than the 400 megapixels the file declares."""
    script = ("import resource, sys; from necklab.lab.imaging import decode, ImageError\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "try: decode(sys.argv[1])\nexcept ImageError as e: print('refused:', e)\n"
              "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)")
    out = subprocess.run([sys.executable, "-c", script, str(corpus_dir / "bomb.png")], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0].startswith("refused:") and "decompression bomb" in out[0]
    assert int(out[-1]) < 50, f"peak RSS grew by {out[-1]} MiB"


# EXIF orientation → the transpose that stores an upright scene so that a viewer shows it upright.
STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def upright_scene() -> tuple[Image.Image, tuple[int, int, int, int]]:
    """A 128×96 grey picture with one white 16×16 square at a known place (x0, y0, x1, y1)."""
    scene = Image.new("RGB", (128, 96), GREY)
    box = (80, 16, 96, 32)
    scene.paste((255, 255, 255), box)
    return scene, box


@pytest.mark.parametrize("orientation", sorted(STORED))
def test_exif_rotated_photos_appear_upright_and_overlays_stay_aligned(orientation, tmp_path):
    scene, (x0, y0, x1, y1) = upright_scene()
    exif = Image.Exif()
    exif[0x0112] = orientation
    rotated = tmp_path / f"orientation-{orientation}.jpg"
    rotated.write_bytes(encode(scene.transpose(STORED[orientation]), "JPEG", quality=100, subsampling=0,
                               exif=exif.tobytes()))
    picture = decode(rotated)
    assert picture.original_size == (128, 96) and picture.size == (128, 96)
    assert np.abs(picture.rgb.astype(int) - np.asarray(scene, dtype=int)).max() <= 12  # upright, same pixels

    session = analyze(Session(), upload(rotated), "cpu", "C3").session
    backbone = run_backbone(session_picture(session)[0])
    upright = run_backbone(decode(encode(scene, "JPEG", quality=100, subsampling=0)))
    for level in ("C2", "C3"):
        assert backbone.grids[level] == upright.grids[level]
        assert torch.allclose(backbone.features[level], upright.features[level],
                              atol=0.05 * upright.features[level].abs().max())
    # The strongest C2 response (stride 4) maps, through the level's cell grid, onto the white square.
    c2 = backbone.features["C2"][0].abs().mean(0)
    i, j = divmod(int(c2.argmax()), c2.shape[1])
    grid = backbone.grids["C2"]
    x, y = to_original(picture, grid.start_x + j * grid.jump, grid.start_y + i * grid.jump)
    assert x0 - grid.jump <= x <= x1 + grid.jump and y0 - grid.jump <= y <= y1 + grid.jump, (x, y)


def extremes(control: Control) -> list:
    """The values a learner can reach at the ends of a control, as the app's widgets send them."""
    if control.kind == "int":
        return [control.minimum, control.maximum]
    if control.kind == "choice":
        return [str(c) for c in control.choices]
    return [str(control.minimum), str(control.maximum), f"{control.minimum}, {control.maximum}"]


def settings(controls: tuple[Control, ...]) -> list[list]:
    """Each control at each of its extremes with the others at their defaults, plus all at once
    at the low and at the high end."""
    default = [str(c.default) if c.kind == "choice" else
               (", ".join(map(str, c.default)) if c.kind == "ints" else c.default) for c in controls]
    out = [default]
    for k, control in enumerate(controls):
        out += [default[:k] + [v] + default[k + 1:] for v in extremes(control)]
    if len(controls) > 1:
        out += [[extremes(c)[0] for c in controls], [extremes(c)[1] for c in controls]]
    return [list(v) for v in dict.fromkeys(tuple(v) for v in out)]


@pytest.fixture(scope="module")
def smallest() -> Session:
    """The session of the smallest accepted picture: 1×1, enlarged to 32×32 (C5 is 1×1)."""
    return Session(picture=keep_picture(decode(encode(Image.new("RGB", (1, 1), (200, 40, 40))))), device="cpu")


@pytest.mark.slow
@pytest.mark.parametrize("name", NECKS)
def test_every_neck_at_every_config_extreme_on_the_smallest_picture(name, smallest):
    spec = NECKS[name]
    for values in settings(spec.controls):
        shown = run_neck([spec], smallest, spec.title, *values)
        analysis, text, graph, table = shown.analysis, shown.summary, shown.graph, shown.table
        assert analysis.picture.size == (MIN_SIDE, MIN_SIDE)
        for node, tensor in analysis.trace.tensors.items():
            assert torch.isfinite(tensor).all(), (name, values, node)
        assert all(analysis.trace[o].numel() > 0 for o in analysis.outputs)
        assert spec.title in text and pixels(graph).ndim == 3 and len(table) == len(analysis.topology.nodes)


def test_after_the_whole_corpus_a_normal_picture_still_analyses():
    shown = analyze(Session(), upload(SAMPLES / "chelsea.png"), "cpu", "C3")
    assert next(iter(shown.top5)) == "Egyptian cat"
    assert "451×300" in shown.status

