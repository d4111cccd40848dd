"""Decoding: every pixel mode to RGB, EXIF orientation, frames, the size policy, clear errors."""
from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from necklab.lab.imaging import MAX_SIDE, MIN_SIDE, ImageError, decode


def encode(im: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_grey_and_bilevel_become_equal_rgb_channels():
    grey = Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (40, 1)), "L")
    for im in (grey, grey.convert("1")):
        rgb = decode(encode(im)).rgb
        assert rgb.shape == (40, 64, 3)
        assert (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all()
    assert decode(encode(grey)).rgb[0, 10, 0] == 40
    assert set(np.unique(decode(encode(grey.convert("1"))).rgb)) <= {0, 255}


def test_alpha_is_composited_on_white():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., 0] = 255  # red everywhere ...
    rgba[:, :20, 3] = 255  # ... opaque on the left, fully transparent on the right
    rgb = decode(encode(Image.fromarray(rgba, "RGBA"))).rgb
    assert tuple(rgb[5, 5]) == (255, 0, 0)
    assert tuple(rgb[5, 35]) == (255, 255, 255)
    la = Image.fromarray(rgba[..., [1, 3]], "LA")  # black, half transparent
    out = decode(encode(la)).rgb
    assert tuple(out[5, 5]) == (0, 0, 0) and tuple(out[5, 35]) == (255, 255, 255)


def test_palette_with_and_without_transparency():
    p = Image.new("P", (40, 40))
    p.putpalette([0, 0, 255] + [0, 255, 0] * 255)
    p.paste(1, (0, 0, 20, 40))
    assert tuple(decode(encode(p)).rgb[0, 0]) == (0, 255, 0)
    assert tuple(decode(encode(p)).rgb[0, 30]) == (0, 0, 255)
    assert tuple(decode(encode(p, transparency=0)).rgb[0, 30]) == (255, 255, 255)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (48, 48), (0, 255, 255, 0))  # pure red in CMYK
    r, g, b = decode(encode(cmyk, "JPEG", quality=95)).rgb[24, 24]
    assert r > 200 and g < 60 and b < 60


def test_16_bit_grey_uses_its_whole_range():
    a = (np.arange(48 * 48, dtype=np.uint16).reshape(48, 48) * 20 + 1000)
    im = Image.fromarray(a.astype(np.uint16))
    assert im.mode == "I;16"
    rgb = decode(encode(im)).rgb
    assert rgb.min() == 0 and rgb.max() == 255
    assert rgb[0, 1, 0] <= rgb[0, 2, 0]  # monotone, not clipped to white


@pytest.mark.slow
def test_a_huge_16_bit_grey_decodes_without_a_float_copy(tmp_path):
    """A 150 KB PNG of 7990×7990 16-bit grey (64 MP): decoding it once added ~1.2 GB (float64 copies);
    now it costs about its 16-bit pixels (128 MB) and the decoder's buffers. Measured in a fresh process."""
    a = np.zeros((7990, 7990), np.uint16)
    a[::97], a[:, ::89] = 60000, 3000
    Image.fromarray(a).save(tmp_path / "big16.png")
    script = ("import resource, sys; from necklab.lab.imaging import decode\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "p = decode(sys.argv[1])\n"
              "print(p.rgb.shape, p.rgb.max(), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path / "big16.png")], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[:3] == ["(1024,", "1024,", "3)"] and out[3] == "255"
    assert int(out[4]) < 400, f"decoding added {out[4]} MB"


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (80, 40), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 10, 10))  # white mark at the top-left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise
    pic = decode(encode(im, "JPEG", exif=exif.tobytes(), quality=95))
    assert pic.original_size == (40, 80)
    assert pic.rgb.shape[:2] == (80, 40)
    assert pic.rgb[3, 36].mean() > 200  # the mark is now at the top-right


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    pic = decode(buf.getvalue())
    assert pic.frames == 2
    assert pic.rgb[20, 20, 0] > 200 and pic.rgb[20, 20, 2] < 50


def test_large_pictures_are_scaled_down_and_keep_their_scale():
    pic = decode(encode(Image.new("RGB", (2000, 1000), (9, 9, 9))))
    assert pic.size == (MAX_SIDE, MAX_SIDE // 2)
    assert pic.scale_xy == (MAX_SIDE / 2000, (MAX_SIDE // 2) / 1000)
    assert pic.original_size == (2000, 1000)


def test_small_pictures_are_enlarged_to_the_minimum():
    pic = decode(encode(Image.new("RGB", (20, 40))))
    assert min(pic.size) == MIN_SIDE and pic.size == (32, 64)
    assert decode(encode(Image.new("RGB", (1, 1)))).size == (32, 32)


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"this is text, not a picture", "not a picture"),
    (encode(Image.new("RGB", (64, 64)))[:60], "damaged or truncated"),
])
def test_bad_files_raise_clear_messages(data, words):
    with pytest.raises(ImageError, match=words):
        decode(data)


def test_too_thin_pictures_are_refused_with_a_reason():
    with pytest.raises(ImageError, match="too thin") as e:
        decode(encode(Image.new("RGB", (5000, 1))))
    assert e.value.text("zh").startswith("图片为 5000×1 像素，太窄，无法分析。请让短边至少 32 像素")
