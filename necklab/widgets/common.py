"""Pieces every tab uses: upload handling, figures as images."""
from __future__ import annotations

import io
import math
import shutil
import tempfile
import weakref
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.data_classes import FileData
from gradio.processing_utils import hash_bytes
from gradio.route_utils import API_PREFIX
from gradio.utils import get_upload_folder, is_in_or_equal
from gradio_client.utils import encode_file_path  # type: ignore[import-untyped]
from matplotlib.figure import Figure
from PIL import Image

from necklab.i18n import LANGS, t
from necklab.lab.cache import LRU
from necklab.lab.imaging import ImageError, Picture, decode
from necklab.viz.render import figure_image
from necklab.widgets.text import inert, localised


class ScratchFolder:
    """A temporary folder for the files a tab hands to Gradio (which serves its own copies), made
    on first use — building or importing the app leaves nothing behind — and removed when the
    process exits (or on `remove()`)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._path: Path | None = None
        self._finalizer: weakref.finalize | None = None

    @property
    def path(self) -> Path:
        if self._path is None:
            self._path = Path(tempfile.mkdtemp(prefix=self.prefix))
            self._finalizer = weakref.finalize(self, shutil.rmtree, self._path, ignore_errors=True)
        return self._path

    def remove(self) -> None:
        """Remove the folder now; the next use makes a new one."""
        if self._finalizer is not None:
            self._finalizer()
        self._path = self._finalizer = None


def no_picture(lang: str = "en") -> gr.Error:
    return gr.Error(t("common.no_picture", lang))


def upload_path(value: Any, lang: str = "en", refused: str = "common.only_uploads") -> str:
    """The server-side file of an upload event run without preprocessing. Only files in Gradio's
    upload cache are opened: Gradio checks that only for values marked as files, and an API client
    can send any dict, e.g. {"path": "/etc/passwd"}. `refused`: the text key that says so."""
    if value is None:
        raise gr.Error(t("common.choose_picture", lang))
    if isinstance(value, dict):
        value = value.get("path")
    if not value:
        raise gr.Error(t("common.upload_lost", lang))
    path = Path(str(value)).resolve()
    if not is_in_or_equal(path, get_upload_folder()):
        raise gr.Error(t(refused, lang))
    return str(path)


def number(value: Any, lang: str = "en") -> float:
    """A slider's value as a finite number, or a gr.Error in `lang`: Gradio's slider lets NaN through,
    and an API client can send anything."""
    try:
        if isinstance(value, (int, float, str)) and not isinstance(value, bool) and math.isfinite(float(value)):
            return float(value)
    except ValueError:  # text that is no number (float() reads "nan" and "1e400" too: isfinite refuses them)
        pass
    raise gr.Error(t("common.not_a_number", lang, value=inert(repr(value)[:40])))


def whole(value: Any, lang: str = "en") -> int:
    """A step or count slider's value as a whole number (see `number`)."""
    return int(number(value, lang))


def language(value: Any, lang: str = "en") -> str:
    """A language an API client sent (one of LANGS), or a gr.Error in the session's language `lang`."""
    if isinstance(value, str) and value in LANGS:
        return value
    raise gr.Error(t("common.unknown_language", lang, value=inert(repr(value)[:40])))


def load_picture(value: Any, lang: str = "en") -> Picture:
    try:
        return decode(upload_path(value, lang))
    except ImageError as e:
        raise gr.Error(e.text(lang)) from None


def image(fig: Figure) -> np.ndarray:
    return figure_image(fig)


PNG_LEVEL = 1  # zlib level of the figures' PNGs: Pillow's default (6) took ~3× as long for ~15 % less


def png_file(pixels: np.ndarray, folder: str | Path) -> str:
    """An H×W×3 uint8 image as a PNG file in `folder` (Gradio's cache), named by its content as
    Gradio names the files it saves (the same image is one file). Gradio's own encoding of an
    array (Pillow's default level) took longer than drawing a step."""
    with io.BytesIO() as out:
        Image.fromarray(pixels).save(out, "png", compress_level=PNG_LEVEL)
        data = out.getvalue()
    path = Path(folder) / hash_bytes(data) / "image.png"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return str(path)


# Figures drawn once per what they show (a key the caller gives: the analysis or picture, the step
# or level, the language), as the PNG files Gradio serves: a class on one sample picture draws each
# once, and going back or asking again finds it drawn. Small entries (a path); Gradio's cache removes
# old files (`DELETE_CACHE`), and a figure whose file went is drawn again.
_drawn_files: LRU[Hashable, str] = LRU(8192)


def drawn_file(key: Hashable, draw: Callable[[], np.ndarray | Figure]) -> str:
    """The PNG file of the figure `draw()` makes (an image or a matplotlib figure) for `key`,
    drawn on the first call for that key."""
    found = found_file(key)
    if found is not None:
        return found
    _drawn_files.discard(key)  # none, or its file is gone

    def make() -> str:
        drawn = draw()
        return png_file(drawn if isinstance(drawn, np.ndarray) else image(drawn), get_upload_folder())

    return _drawn_files.get_or_make(key, make)


def found_file(key: Hashable) -> str | None:
    """The PNG file drawn for `key` if it is there, else None (draws nothing)."""
    found = _drawn_files.find(key)
    return found if found is not None and Path(found).exists() else None


def sent_file(path: str) -> dict[str, Any]:
    """A file of Gradio's upload folder (which it serves) as an image component's value, with its URL
    relative to the app's root: the one that component gets for it, less the root (Gradio adds the
    root to files it sends as a component's value, not inside a gr.JSON's)."""
    url = f"{API_PREFIX}/file={encode_file_path(path)}"
    return FileData(path=path, orig_name=Path(path).name, url=url).model_dump()


def sent_image(component: Any, value: Any) -> Any:
    """What goes out to a PNG image component for a view's value: an H×W×3 uint8 array as a fast
    PNG file (`png_file`) in Gradio's cache, which Gradio serves as it is; anything else as it is."""
    if (isinstance(component, gr.Image) and component.format == "png" and isinstance(value, np.ndarray)
            and value.dtype == np.uint8 and value.ndim == 3):
        return png_file(value, component.GRADIO_CACHE)
    return value


def figure_box(label: str, elem_id: str, height: int | str | None = None) -> gr.Image:
    """An output image for a figure, downloadable as PNG and viewable full screen. The label (a
    text key) is for screen readers; the figure carries its own title. `height` (CSS) bounds the
    box; the figure keeps its aspect inside it."""
    return localised(gr.Image, {"label": label}, show_label=False, elem_id=elem_id, format="png", interactive=False,
                     buttons=["download", "fullscreen"], height=height)
