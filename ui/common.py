"""Pieces every tab uses: the session (picture + device), upload handling, figures as images."""
from __future__ import annotations

from typing import Any

import gradio as gr
import numpy as np
from matplotlib.figure import Figure

from necks.imaging import ImageError, Picture, decode
from pack.figures import LessonFigure
from viz.render import figure_image

NO_PICTURE = "Analyse a picture first: upload one (or click a sample) on the left and press **Analyze**."


def upload_path(value: Any) -> str:
    """The server-side file of an upload event run without preprocessing (Gradio has already
    checked that it lies in its upload cache)."""
    if value is None:
        raise gr.Error("Choose a picture first: upload one or click a sample below it.")
    if isinstance(value, dict):
        value = value.get("path")
    if not value:
        raise gr.Error("The upload did not arrive; please upload the picture again.")
    return str(value)


def load_picture(value: Any) -> Picture:
    try:
        return decode(upload_path(value))
    except ImageError as e:
        raise gr.Error(str(e)) from None


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
