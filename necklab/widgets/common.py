"""Pieces every tab uses: the session (picture + device), upload handling, figures as images."""
from __future__ import annotations

import functools
import gc
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import gradio as gr
import numpy as np
import torch
from gradio.utils import get_upload_folder, is_in_or_equal
from matplotlib.figure import Figure

from necklab.i18n import t
from necklab.lab.imaging import ImageError, Picture, decode
from necklab.viz.render import figure_image
from necklab.widgets.text import localised

Handler = TypeVar("Handler", bound=Callable[..., Any])


def no_picture(lang: str = "en") -> gr.Error:
    return gr.Error(t("common.no_picture", lang))


def upload_path(value: Any, lang: str = "en") -> str:
    """The server-side file of an upload event run without preprocessing. Only files in Gradio's
    upload cache are opened: Gradio checks that only for values marked as files, and an API client
    can send any dict, e.g. {"path": "/etc/passwd"}."""
    if value is None:
        raise gr.Error(t("common.choose_picture", lang))
    if isinstance(value, dict):
        value = value.get("path")
    if not value:
        raise gr.Error(t("common.upload_lost", lang))
    path = Path(str(value)).resolve()
    if not is_in_or_equal(path, get_upload_folder()):
        raise gr.Error(t("common.only_uploads", lang))
    return str(path)


def load_picture(value: Any, lang: str = "en") -> Picture:
    try:
        return decode(upload_path(value, lang))
    except ImageError as e:
        raise gr.Error(e.text(lang)) from None


def out_of_memory_as_message(handler: Handler) -> Handler:
    """Report an out-of-memory error of a handler's model run as a message with a way out, and
    give the memory back so the server keeps serving the other users."""
    signature = inspect.signature(handler)

    @functools.wraps(handler)  # Gradio reads the handler's signature (progress, event data) through this
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except torch.OutOfMemoryError:
            pass  # leave the except block first: its traceback holds the tensors to free
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        # Gradio passes inputs by position: find `lang` wherever it came
        lang = signature.bind_partial(*args, **kwargs).arguments.get("lang", "en")
        raise gr.Error(t("common.out_of_memory", lang))
    return guarded  # type: ignore[return-value]


def session_picture(session: dict | None, lang: str = "en") -> tuple[Picture, str]:
    """The analysed picture and device of this browser session, or a clear error."""
    if not session:
        raise no_picture(lang)
    return session["picture"], session["device"]


def image(fig: Figure) -> np.ndarray:
    return figure_image(fig)


class Drawable(Protocol):
    make: Callable[[], Figure]


def drawn(figures: Sequence[Drawable]) -> tuple[np.ndarray, ...]:
    """A lesson panel's figures as images (the lesson lists them, for the figure pack too)."""
    return tuple(image(f.make()) for f in figures)


def figure_box(label: str, elem_id: str) -> gr.Image:
    """An output image for a figure, downloadable as PNG and viewable full screen. The label (a
    text key) is for screen readers; the figure carries its own title."""
    return localised(gr.Image, {"label": label}, show_label=False, elem_id=elem_id, format="png", interactive=False,
                     buttons=["download", "fullscreen"])
