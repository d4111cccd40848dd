"""Pieces every tab uses: the session (picture + device), upload handling, figures as images."""
from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np
import torch
from gradio.utils import get_upload_folder, is_in_or_equal
from matplotlib.figure import Figure

from necks.imaging import ImageError, Picture, decode
from pack.figures import LessonFigure
from viz.render import figure_image

OUT_OF_MEMORY = ("The model ran out of memory on this device. Try a smaller picture, or choose **cpu** in the "
                 "Device menu and press **Analyze** again.")
Handler = TypeVar("Handler", bound=Callable[..., Any])
NO_PICTURE = "Analyse a picture first: upload one (or click a sample) on the left and press **Analyze**."


def upload_path(value: Any) -> str:
    """The server-side file of an upload event run without preprocessing. Only files in Gradio's
    upload cache are opened: Gradio checks that only for values marked as files, and an API client
    can send any dict, e.g. {"path": "/etc/passwd"}."""
    if value is None:
        raise gr.Error("Choose a picture first: upload one or click a sample below it.")
    if isinstance(value, dict):
        value = value.get("path")
    if not value:
        raise gr.Error("The upload did not arrive; please upload the picture again.")
    path = Path(str(value)).resolve()
    if not is_in_or_equal(path, get_upload_folder()):
        raise gr.Error("Only uploaded files can be analysed: upload the picture (or click a sample) and try again.")
    return str(path)


def load_picture(value: Any) -> Picture:
    try:
        return decode(upload_path(value))
    except ImageError as e:
        raise gr.Error(str(e)) from None


def out_of_memory_as_message(handler: Handler) -> Handler:
    """Report an out-of-memory error of a handler's model run as a message with a way out, and
    give the memory back so the server keeps serving the other users."""
    @functools.wraps(handler)  # Gradio reads the handler's signature (progress, event data) through this
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except torch.OutOfMemoryError:
            pass  # leave the except block first: its traceback holds the tensors to free
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise gr.Error(OUT_OF_MEMORY)
    return guarded  # type: ignore[return-value]


def session_picture(session: dict | None) -> tuple[Picture, str]:
    """The analysed picture and device of this browser session, or a clear error."""
    if not session:
        raise gr.Error(NO_PICTURE)
    return session["picture"], session["device"]


def image(fig: Figure) -> np.ndarray:
    return figure_image(fig)


def drawn(figures: list[LessonFigure]) -> tuple[np.ndarray, ...]:
    """A lesson panel's figures as images (pack.figures lists them, for the figure pack too)."""
    return tuple(image(f.make()) for f in figures)


def figure_box(label: str, elem_id: str) -> gr.Image:
    """An output image for a figure, downloadable as PNG and viewable full screen. The label is
    for screen readers; the figure carries its own title."""
    return gr.Image(label=label, show_label=False, elem_id=elem_id, format="png", interactive=False,
                    buttons=["download", "fullscreen"])
