"""Pieces every tab uses: the session (picture + device), upload handling, figures as images."""
from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
from matplotlib.figure import Figure

from necks.i18n import from_english, t
from necks.imaging import ImageError, Picture, decode
from viz.render import figure_image

from .text import localised

NO_PICTURE = t("common.no_picture")  # in English; handlers with a language raise no_picture(lang)


def no_picture(lang: str = "en") -> gr.Error:
    return gr.Error(t("common.no_picture", lang))


def upload_path(value: Any, lang: str = "en") -> str:
    """The server-side file of an upload event run without preprocessing (Gradio has already
    checked that it lies in its upload cache)."""
    if value is None:
        raise gr.Error(t("common.choose_picture", lang))
    if isinstance(value, dict):
        value = value.get("path")
    if not value:
        raise gr.Error(t("common.upload_lost", lang))
    return str(value)


def load_picture(value: Any, lang: str = "en") -> Picture:
    try:
        return decode(upload_path(value, lang))
    except ImageError as e:  # the model side words its reasons in English
        raise gr.Error(from_english("image", str(e), lang)) from None


def session_picture(session: dict | None, lang: str = "en") -> tuple[Picture, str]:
    """The analysed picture and device of this browser session, or a clear error."""
    if not session:
        raise no_picture(lang)
    return session["picture"], session["device"]


def image(fig: Figure) -> np.ndarray:
    return figure_image(fig)


def figure_box(label: str, elem_id: str) -> gr.Image:
    """An output image for a figure, downloadable as PNG and viewable full screen. The label (a
    text key) is for screen readers; the figure carries its own title."""
    return localised(gr.Image, {"label": label}, show_label=False, elem_id=elem_id, format="png", interactive=False,
                     buttons=["download", "fullscreen"])
