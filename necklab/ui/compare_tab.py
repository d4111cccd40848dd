"""The Compare tab: every neck of the zoo on the session's picture, as a sortable table, two figures
and a CSV download."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

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
from necklab.widgets.common import ScratchFolder, figure_box, image
from necklab.widgets.events import Shows, event, time_limit
from necklab.widgets.session import Session, session_picture
from necklab.widgets.text import localised

REPEATS = 1  # timed forwards per neck (the analysis's own traced one first); the table shows their median
CSV_DIR = ScratchFolder("necklab-compare-")  # one folder per server process


@dataclass(frozen=True)
class ErfsAdded:
    """The comparison with its effective receptive fields: the table, the ERF figure and the CSV."""

    table: list[list]
    erf: Any
    csv: str


@dataclass(frozen=True)
class Compared(ErfsAdded):
    """The comparison before its effective receptive fields (no ERF figure yet), the parameters
    figure, and the rows (kept for `compare_erfs`)."""

    params: Any
    rows: list[NeckRow]


@time_limit(120)
def compare(session: Session, progress: gr.Progress = gr.Progress()) -> Compared:
    """Run the comparison on the session's picture and device, all but the effective receptive
    fields (`compare_erfs` adds them next); the CSV is written in a fresh folder per call."""
    picture, device = session_picture(session)
    lang = session.lang
    total = len(NECKS)
    rows = compare_zoo(picture, device, REPEATS, progress=lambda i, title: progress((i, total), desc=title),
                       erf=False, weights=session.weights)
    subtitle = t("compare.subtitle", lang, w=picture.size[0], h=picture.size[1], device=device)
    return Compared(table=compare_rows(rows, lang), erf=None, csv=_csv(rows),
                    params=image(params_latency_figure(rows, subtitle, lang)), rows=rows)


@time_limit(120)
def compare_erfs(session: Session, rows: list[NeckRow] | None, progress: gr.Progress = gr.Progress()
                 ) -> ErfsAdded | None:
    """The comparison's effective receptive fields (none before a comparison)."""
    if not rows:
        return None
    picture, device = session_picture(session)
    lang = session.lang
    progress(0.1, desc=t("compare.erfs", lang))
    rows = add_erfs(picture, [replace(r) for r in rows], device)
    subtitle = t("compare.subtitle", lang, w=picture.size[0], h=picture.size[1], device=device)
    return ErfsAdded(table=compare_rows(rows, lang), erf=image(erf_area_figure(rows, subtitle, lang)), csv=_csv(rows))


def _csv(rows: list[NeckRow]) -> str:
    return str(to_csv(rows, CSV_DIR.path / f"necklab_compare_{uuid.uuid4().hex[:8]}.csv"))


def build_compare_tab(session: gr.State) -> tuple[gr.Button, list[gr.components.Component]]:
    """Build the tab's components and wire its button (call inside a gr.Tab); returns the button
    and the outputs of `compare`. One comparison runs at a time (other events may still run beside
    it, so a busy server shows slower latencies)."""
    localised(gr.Markdown, {"value": ("compare.intro", dict(mass=f"{ERF_MASS * 100:.0f}"))})
    run = localised(gr.Button, {"value": "compare.run"}, variant="primary", elem_id="compare-run")
    table = localised(gr.Dataframe, {"label": "compare.table", "headers": compare_headers}, datatype=COMPARE_TYPES,
                      interactive=False, wrap=True, pinned_columns=1, elem_id="compare-table")
    with gr.Row():
        params = figure_box("compare.params", "compare-params")
        erf = figure_box("compare.erf", "compare-erf")
    csv_file = localised(gr.File, {"label": "compare.csv"}, interactive=False, elem_id="compare-csv")
    rows = gr.State(None)
    compared = Shows(Compared, table=table, params=params, erf=erf, csv=csv_file, rows=rows)
    erfs = Shows(ErfsAdded, table=table, erf=erf, csv=csv_file)
    run.click(event(compare, compared), [session], compared.outputs, api_name="compare", concurrency_limit=1,
              concurrency_id="compare").then(event(compare_erfs, erfs), [session, rows], erfs.outputs,
                                             api_name="compare_erfs", concurrency_id="compare")
    return run, compared.outputs
