"""The "Export lesson (ZIP)" button of a neck tab: the tab's analysis written as a figure pack
(pack.write) and offered as a download, with progress while the figures are drawn."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import gradio as gr

from necks.analysis import Analysis
from pack.write import ZIP_NAME, write_pack

from .common import NO_PICTURE, out_of_memory_as_message

EXPORTS = Path(tempfile.gettempdir()) / "necklab-exports"
KEEP_SECONDS = 3600  # older exports are removed when a new one starts (Gradio has served its copy)

TEXT = {
    "button": "Export lesson (ZIP)",
    "file": "Lesson pack: every figure as PNG (300 dpi) and SVG, shapes as CSV and JSON, lesson.md",
    "picture": "a {fmt} picture of {w}×{h} px",
    "start": "Preparing the lesson pack",
}


def _clear_old(now: float) -> None:
    if EXPORTS.exists():
        for old in EXPORTS.iterdir():
            if now - old.stat().st_mtime > KEEP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)


@out_of_memory_as_message
def export_lesson(analysis: Analysis | None, progress: gr.Progress = gr.Progress()) -> str:
    """Write the tab's lesson as a pack and return its ZIP (the unpacked folder is dropped)."""
    if analysis is None:
        raise gr.Error(NO_PICTURE)
    progress(0.0, desc=TEXT["start"])
    now = time.time()
    _clear_old(now)
    EXPORTS.mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pack-", dir=EXPORTS))
    w, h = analysis.picture.original_size
    name = TEXT["picture"].format(fmt=analysis.picture.source_format, w=w, h=h)
    folder = write_pack(analysis, work / f"necklab-{analysis.neck_name}", picture_name=name,
                        progress=lambda fraction, text: progress(fraction, desc=text))
    archive = shutil.move(folder / ZIP_NAME, work / f"necklab-{analysis.neck_name}-lesson.zip")
    shutil.rmtree(folder)
    return str(archive)


def export_box(key: str, state: gr.State) -> None:
    """The button and the file it fills, wired to the tab's analysis."""
    with gr.Row():
        button = gr.Button(TEXT["button"], elem_id=f"{key}-export", scale=0, min_width=200)
        file = gr.File(label=TEXT["file"], elem_id=f"{key}-export-file", interactive=False, scale=3)
    button.click(export_lesson, [state], [file], api_name=f"{key.replace('-', '_')}_export")
