"""The "Export lesson (ZIP)" button of a neck tab: the tab's analysis written as a figure pack
(necklab.pack.write) and offered as a download, with progress while the figures are drawn."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import gradio as gr

from necklab.i18n import t
from necklab.lab.analysis import Analysis
from necklab.pack.write import ZIP_NAME, write_pack
from necklab.widgets.common import no_picture
from necklab.widgets.events import event, time_limit
from necklab.widgets.session import Session
from necklab.widgets.text import localised

EXPORTS = Path(tempfile.gettempdir()) / "necklab-exports"
KEEP_SECONDS = 3600  # older exports are removed when a new one starts (Gradio has served its copy)


def _clear_old(now: float) -> None:
    if EXPORTS.exists():
        for old in EXPORTS.iterdir():
            if now - old.stat().st_mtime > KEEP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)


@time_limit(120)
def export_lesson(session: Session, analysis: Analysis | None, progress: gr.Progress = gr.Progress()) -> str:
    """Write the tab's lesson as a pack in the session's language and return its ZIP (the unpacked
    folder is dropped)."""
    if analysis is None:
        raise no_picture(session.lang)
    progress(0.0, desc=t("export.start", session.lang))
    now = time.time()
    _clear_old(now)
    EXPORTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pack-", dir=EXPORTS))
    w, h = analysis.picture.original_size
    lang = session.lang
    name = t("pack.uploaded", lang, fmt=analysis.picture.source_format, w=w, h=h)
    folder = write_pack(analysis, work / f"necklab-{analysis.neck_name}", lang=lang, picture_name=name,
                        progress=lambda fraction, text: progress(fraction, desc=text))
    archive = shutil.move(folder / ZIP_NAME, work / f"necklab-{analysis.neck_name}-lesson.zip")
    shutil.rmtree(folder)
    return str(archive)


def export_box(key: str, session: gr.State, state: gr.State) -> None:
    """The button and the file it fills, wired to the tab's analysis. The file box stays hidden until
    there is a file (an empty one took ~200 px of every tab)."""
    with gr.Row():
        button = localised(gr.Button, {"value": "export.button"}, elem_id=f"{key}-export", scale=0, min_width=200)
        file = localised(gr.File, {"label": "export.file"}, elem_id=f"{key}-export-file", interactive=False, scale=3,
                         visible=False)
    exported = button.click(event(export_lesson), [session, state], [file], api_name=f"{key.replace('-', '_')}_export")
    exported.success(show_file, None, [file], api_visibility="private")  # the API keeps returning the file


def show_file() -> Any:
    return gr.update(visible=True)
