"""The Compare tab: every neck of the zoo on the session's picture, as a sortable table, two figures
and a CSV download."""
from __future__ import annotations

import tempfile
import uuid
from dataclasses import replace
from pathlib import Path

import gradio as gr
import numpy as np

from necklab.i18n import t
from necklab.lab.compare import ERF_MASS, NeckRow, add_erfs, compare_zoo
from necklab.models.registry import NECKS
from necklab.viz.compare import (
    COMPARE_TYPES,
    compare_headers,
    compare_rows,
    erf_area_figure,
    params_latency_figure,
    to_csv,
)
from necklab.widgets.common import figure_box, image, out_of_memory_as_message, session_picture
from necklab.widgets.text import localised

REPEATS = 1  # timed forwards per neck (the analysis's own traced one first); the table shows their median
CSV_DIR = Path(tempfile.mkdtemp(prefix="necklab-compare-"))  # one folder per server process


@out_of_memory_as_message
def compare(session: dict | None, lang: str = "en", progress: gr.Progress = gr.Progress()
            ) -> tuple[list[list], np.ndarray, None, str, list[NeckRow]]:
    """Run the comparison on the session's picture and device, all but the effective receptive
    fields (`compare_erfs` adds them next); returns the table rows, the parameters figure, no ERF
    figure yet, the path of the table as CSV (in a fresh folder per call) and the rows."""
    picture, device = session_picture(session, lang)
    total = len(NECKS)
    rows = compare_zoo(picture, device, REPEATS, progress=lambda i, title: progress((i, total), desc=title),
                       erf=False)
    subtitle = t("compare.subtitle", lang, w=picture.size[0], h=picture.size[1], device=device)
    return compare_rows(rows, lang), image(params_latency_figure(rows, subtitle, lang)), None, _csv(rows), rows


def compare_erfs(rows: list[NeckRow] | None, session: dict | None, lang: str = "en",
                 progress: gr.Progress = gr.Progress()) -> tuple[list[list], np.ndarray, str]:
    """The comparison's effective receptive fields: the table rows, the ERF figure and the CSV."""
    if not rows:
        return gr.skip(), gr.skip(), gr.skip()
    picture, device = session_picture(session, lang)
    progress(0.1, desc=t("compare.erfs", lang))
    rows = add_erfs(picture, [replace(r) for r in rows], device)
    subtitle = t("compare.subtitle", lang, w=picture.size[0], h=picture.size[1], device=device)
    return compare_rows(rows, lang), image(erf_area_figure(rows, subtitle, lang)), _csv(rows)


def _csv(rows: list[NeckRow]) -> str:
    return str(to_csv(rows, CSV_DIR / f"necklab_compare_{uuid.uuid4().hex[:8]}.csv"))


def build_compare_tab(session: gr.State, language: gr.components.Component | None = None
                      ) -> tuple[gr.Button, list[gr.components.Component]]:
    """Build the tab's components and wire its button (call inside a gr.Tab); returns the button
    and the outputs of `compare`. One comparison runs at a time (other events may still run beside it, so a busy server
    shows slower latencies). `language` holds the session's language (English without one)."""
    language = language if language is not None else gr.State("en")
    localised(gr.Markdown, {"value": ("compare.intro", dict(mass=f"{ERF_MASS * 100:.0f}"))})
    run = localised(gr.Button, {"value": "compare.run"}, variant="primary", elem_id="compare-run")
    table = localised(gr.Dataframe, {"label": "compare.table", "headers": compare_headers}, datatype=COMPARE_TYPES,
                      interactive=False, wrap=True, pinned_columns=1, elem_id="compare-table")
    with gr.Row():
        params = figure_box("compare.params", "compare-params")
        erf = figure_box("compare.erf", "compare-erf")
    csv_file = localised(gr.File, {"label": "compare.csv"}, interactive=False, elem_id="compare-csv")
    outputs = [table, params, erf, csv_file]
    rows = gr.State(None)
    run.click(compare, [session, language], [*outputs, rows], api_name="compare", concurrency_limit=1,
              concurrency_id="compare").then(compare_erfs, [rows, session, language], [table, erf, csv_file],
                                             api_name="compare_erfs", concurrency_id="compare")
    return run, outputs
