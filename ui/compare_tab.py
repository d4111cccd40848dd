"""The Compare tab: every neck of the zoo on the session's picture, as a sortable table, two figures
and a CSV download."""
from __future__ import annotations

import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np

from necks.compare import ERF_MASS, NeckRow, add_erfs, compare_zoo
from necks.registry import NECKS
from viz.compare import (COMPARE_HEADERS, COMPARE_TYPES, compare_rows, erf_area_figure, params_latency_figure,
                         to_csv)

from .common import figure_box, image, out_of_memory_as_message, session_picture

REPEATS = 1  # timed forwards per neck (the analysis's own traced one first); the table shows their median
CSV_DIR = Path(tempfile.mkdtemp(prefix="necklab-compare-"))  # one folder per server process

INTRO = (
    "Every neck of the zoo on the same backbone features of the analysed picture, each in the configuration "
    "its tab starts with (freshly initialised, seed 0). Necks that take one level (SPP-net, YOLO SPP/SPPF, "
    "ASPP) read C5. **Latency**: the time of the forward that fills the table's shapes, "
    "on the session's device. **GFLOPs**: `torch.utils.flop_counter`, which counts convolutions and matrix "
    "products, so pure pooling counts 0. **RF**: theoretical receptive field of the finest output's cells "
    "(along the height), the largest over paths without a global pooling; *whole picture* where a global "
    "pooling reaches the cell. It may exceed the picture: it counts padding too. **ERF**: how many pixels "
    f"hold {ERF_MASS * 100:.0f} % of |∂ centre cell / ∂ picture| (filled in after the rest). Click a column header to sort."
)


@out_of_memory_as_message
def compare(session: dict | None, progress: gr.Progress = gr.Progress()
            ) -> tuple[list[list], np.ndarray, None, str, list[NeckRow]]:
    """Run the comparison on the session's picture and device, all but the effective receptive
    fields (`compare_erfs` adds them next); returns the table rows, the parameters figure, no ERF
    figure yet, the path of the table as CSV (in a fresh folder per call) and the rows."""
    picture, device = session_picture(session)
    total = len(NECKS)
    rows = compare_zoo(picture, device, REPEATS, progress=lambda i, title: progress((i, total), desc=title),
                       erf=False)
    subtitle = f"{picture.size[0]}×{picture.size[1]} px picture on {device}"
    return compare_rows(rows), image(params_latency_figure(rows, subtitle)), None, _csv(rows), rows


def compare_erfs(rows: list[NeckRow] | None, session: dict | None, progress: gr.Progress = gr.Progress()
                 ) -> tuple[list[list], np.ndarray, str]:
    """The comparison's effective receptive fields: the table rows, the ERF figure and the CSV."""
    if not rows:
        return gr.skip(), gr.skip(), gr.skip()
    picture, device = session_picture(session)
    progress(0.1, desc="Effective receptive fields")
    rows = add_erfs(picture, [replace(r) for r in rows], device)
    subtitle = f"{picture.size[0]}×{picture.size[1]} px picture on {device}"
    return compare_rows(rows), image(erf_area_figure(rows, subtitle)), _csv(rows)


def _csv(rows: list[NeckRow]) -> str:
    return str(to_csv(rows, CSV_DIR / f"necklab_compare_{uuid.uuid4().hex[:8]}.csv"))


def build_compare_tab(session: gr.State) -> tuple[gr.Button, list[gr.components.Component]]:
    """Build the tab's components and wire its button (call inside a gr.Tab); returns the button
    and the outputs of `compare`. One comparison runs at a time (other events may still run beside it, so a busy server
    shows slower latencies)."""
    gr.Markdown(INTRO)
    run = gr.Button("Compare the zoo", variant="primary", elem_id="compare-run")
    table = gr.Dataframe(headers=COMPARE_HEADERS, datatype=COMPARE_TYPES, label="The zoo on this picture",
                         interactive=False, wrap=True, pinned_columns=1, elem_id="compare-table")
    with gr.Row():
        params = figure_box("Parameters against latency", "compare-params")
        erf = figure_box("Effective receptive field area per neck", "compare-erf")
    csv_file = gr.File(label="The table as CSV", interactive=False, elem_id="compare-csv")
    outputs = [table, params, erf, csv_file]
    rows = gr.State(None)
    run.click(compare, [session], [*outputs, rows], api_name="compare", concurrency_limit=1,
              concurrency_id="compare").then(compare_erfs, [rows, session], [table, erf, csv_file],
                                             api_name="compare_erfs", concurrency_id="compare")
    return run, outputs
