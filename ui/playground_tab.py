"""The Playground tab: design a NAS-FPN stage cell by cell, check it, run it on the picture with the
common graph and step-through, compare it with FPN, PANet and NAS-FPN, mutate it, search around it,
and save or load it as JSON."""
from __future__ import annotations

import random
import tempfile
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from necks.cell_design import LEVELS, MAX_CELLS, OPS, PRESETS, Design, DesignError, from_json, from_rows, mutate
from necks.playground import (PROXIES, Candidate, compare_design, design_spec, output_erfs, random_search,
                              run_design)
from viz.aspp import erf_figure
from viz.compare import COMPARE_HEADERS, COMPARE_TYPES, compare_rows, params_latency_figure

from .common import NO_PICTURE, figure_box, image, out_of_memory_as_message, session_picture
from .neck_tab import build_step_view, first_step, summary

KEY = "playground"
HEADERS = ["op", "input A", "input B", "output level", "ReLU → 3×3 conv → BN after"]
SEARCH_HEADERS = ["rank", "change from the start design", "parameters", "GFLOPs", "latency (ms)",
                  "ERF 95 % of the finest level (% of picture)", "mean rank (1 = best)"]
START = "NAS-FPN"
FILES = Path(tempfile.mkdtemp(prefix="necklab-designs-"))  # saved designs, one folder per server process

INTRO = (
    "NAS-FPN (Ghiasi et al. 2019) found its pyramid by *searching* over **merging cells** instead of designing "
    "one by hand. Each row below is one cell of a stage: it reads two earlier nodes — a level of the stage's "
    "input **P3…P7** or an earlier cell (**cell 2**) —, resizes both to its **output level** (nearest up, "
    "max-pool down), merges them by a **sum** or by **global pooling** (B + σ(global average of B) · A), and "
    "(if the last column says yes) runs ReLU → 3×3 conv → BN. The stage's output at a level is the **last** "
    "cell written there, so every level P3…P7 needs one; stacked stages read the previous stage's outputs. "
    "Start from a preset, edit cells in the table (type P3…P7 or cell k), then **Validate** or **Run**.")
HONEST = ("**No accuracy is measured here**: no detector is trained on these necks (their weights are freshly "
          "initialised), so the search ranks designs only by measurable proxies — parameters, FLOPs, latency "
          "and how far the finest level's centre cell looks (its effective receptive field). A design that "
          "ranks first is cheaper or sees more, not better at detecting objects.")


def read_design(rows: Any, name: str) -> Design:
    """The table's design, or a gr.Error with validation's message."""
    values = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
    try:
        return from_rows(values, (name or "my design").strip())
    except DesignError as e:
        raise gr.Error(str(e)) from None


def describe(design: Design) -> str:
    """What the stage outputs, and cells that do nothing."""
    outputs = ", ".join(f"P{lvl} = cell {k}" for lvl, k in sorted(design.producers().items()))
    text = f"**Valid**: “{design.name}” is a stage of {len(design.cells)} cells. Outputs: {outputs}."
    unused = design.unused()
    if unused:
        text += (f" Note: {', '.join(f'cell {k}' for k in unused)} feed nothing and are no level's output: "
                 "they cost time (and a conv's parameters) but change no output.")
    return text


def show_design(design: Design, status: str) -> tuple:
    """The table rows, name, notes and status of a design put on screen."""
    return design.rows(), design.name, design.notes, status


def load_preset(name: str) -> tuple:
    return show_design(PRESETS[name], describe(PRESETS[name]))


def check(rows: Any, name: str) -> str:
    """Validate without raising: the message is the lesson."""
    try:
        return describe(read_design(rows, name))
    except gr.Error as e:
        return f"**Not valid:** {e.message}"


@out_of_memory_as_message
def run(session: dict | None, rows: Any, name: str, stages: float, progress: gr.Progress = gr.Progress()) -> tuple:
    """Build the design and run it on the session's picture; the step view's values."""
    design = read_design(rows, name)
    picture, device = session_picture(session)
    progress(0.1, desc=f"Running {design.name} ({int(stages)} stages) on {device}")
    analysis = run_design(picture, design, int(stages), device)
    progress(0.6, desc="Drawing the graph and the first step")
    return (analysis, summary(analysis, design_spec(design)), *first_step(analysis), describe(design))


def mutate_table(rows: Any, name: str) -> tuple:
    design = read_design(rows, name)
    mutated, words = mutate(design, random.Random())
    return mutated.rows(), f"Mutated — {words}. Press **Run** to see the new graph.\n\n{describe(mutated)}"


@out_of_memory_as_message
def compare(session: dict | None, rows: Any, name: str, stages: float, progress: gr.Progress = gr.Progress()
            ) -> tuple:
    """The design beside FPN, PANet and NAS-FPN: table, parameters against latency, and the
    effective receptive field of each of the design's output levels."""
    design = read_design(rows, name)
    picture, device = session_picture(session)
    result = compare_design(picture, design, int(stages), device,
                            progress=lambda i, title: progress((i, 5), desc=f"Measuring {title}"))
    progress((4, 5), desc="Effective receptive fields of the design's outputs")
    analysis = run_design(picture, design, int(stages), device)
    erfs, cells = output_erfs(analysis)
    plural = "s" if int(stages) > 1 else ""
    subtitle = (f"{picture.size[0]}×{picture.size[1]} px picture on {device}; "
                f"the design with {int(stages)} stage{plural}")
    return (compare_rows(result), image(params_latency_figure(result, subtitle)),
            image(erf_figure(analysis, erfs, cells)))


@out_of_memory_as_message
def search(session: dict | None, rows: Any, name: str, stages: float, proxies: list[str], count: float,
           seconds: float, progress: gr.Progress = gr.Progress()) -> tuple[list[list], list[Candidate], str]:
    design = read_design(rows, name)
    if not proxies:
        raise gr.Error("Tick at least one proxy to rank the candidates by.")
    picture, device = session_picture(session)
    total = int(count) + 1
    found = random_search(picture, design, int(stages), proxies, int(count), float(seconds), device,
                          seed=random.randrange(2 ** 31),
                          progress=lambda i, title: progress((i, total), desc=f"Measuring {title}"))
    table = [[i, c.change, c.row.params, round(c.row.flops / 1e9, 3), round(c.row.latency_ms, 2),
              None if c.row.erf_percent is None else round(c.row.erf_percent, 1), round(c.score, 2)]
             for i, c in enumerate(found, start=1)]
    measured = len(found) - 1
    note = (f"Measured the start design and {measured} variants"
            + (f" (the {float(seconds):.0f} s budget ran out before {int(count)})" if measured < int(count) else "")
            + f", ranked by {', '.join(proxies)}. " + HONEST)
    return table, found, note


def take_best(found: list[Candidate] | None) -> tuple:
    if not found:
        raise gr.Error("Run a search first.")
    best = found[0]
    return show_design(best.design, f"Took the top candidate ({best.change}).\n\n{describe(best.design)}")


def save(rows: Any, name: str) -> str:
    design = read_design(rows, name)
    stem = "".join(c if c.isalnum() else "_" for c in design.name)[:40] or "design"
    folder = FILES / uuid.uuid4().hex[:8]  # one folder per save: the file keeps its readable name
    folder.mkdir()
    path = folder / f"{stem}.json"
    path.write_text(design.to_json(), encoding="utf-8")
    return str(path)


def load(upload: Any) -> tuple:
    if upload is None:
        return (gr.skip(),) * 4
    path = upload if isinstance(upload, str) else getattr(upload, "name", None) or upload.get("path")
    try:
        design = from_json(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise gr.Error("The file is not text: choose a .json design saved by NeckLab.") from None
    except DesignError as e:
        raise gr.Error(f"Cannot load this design: {e}") from None
    return show_design(design, f"Loaded **{design.name}**.\n\n{describe(design)}")


def build_playground_tab(session: gr.State) -> None:
    """Build the tab's components and wire its events (call inside a gr.Tab)."""
    gr.Markdown(INTRO)
    start = PRESETS[START]
    with gr.Row():
        presets = [gr.Button(f"Start from {name}", elem_id=f"{KEY}-preset-{i}", size="sm")
                   for i, name in enumerate(PRESETS)]
    with gr.Row():
        name = gr.Textbox(start.name, label="Design name", elem_id=f"{KEY}-name", scale=2)
        stages = gr.Slider(1, 7, value=1, step=1, label="Stages (the cell list repeated; the zoo's NAS-FPN has 7)",
                           elem_id=f"{KEY}-stages", scale=3)
    notes = gr.Markdown(start.notes, elem_id=f"{KEY}-notes")
    table = gr.Dataframe(start.rows(), headers=HEADERS, datatype="str", type="array", interactive=True,
                         row_count=len(start.cells), column_count=len(HEADERS), show_row_numbers=True,
                         label=(f"Cells in execution order (row k is cell k; at most {MAX_CELLS}). "
                                f"op: {' or '.join(OPS.values())}; "
                                f"inputs: P{LEVELS[0]}…P{LEVELS[-1]} or cell k (an earlier row); "
                                "last column: yes or no"),
                         elem_id=f"{KEY}-cells")
    with gr.Row():
        validate = gr.Button("Validate", elem_id=f"{KEY}-validate")
        mutate_button = gr.Button("Mutate (one random legal change)", elem_id=f"{KEY}-mutate")
        run_button = gr.Button("Run the design", variant="primary", elem_id=f"{KEY}-run")
    status = gr.Markdown(describe(start), elem_id=f"{KEY}-status")
    info = gr.Markdown(NO_PICTURE, elem_id=f"{KEY}-summary")
    state = gr.State(None)
    view, _ = build_step_view(KEY, state)

    with gr.Accordion("Side by side with FPN, PANet and NAS-FPN", open=True):
        gr.Markdown("FPN, PANet and NAS-FPN in the configurations their tabs start with, and your design, on the "
                    "same backbone features: parameters, FLOPs, median latency of 5 forwards, and the effective "
                    "receptive field (ERF) of the finest output's centre cell; below, the ERF of every output level "
                    "of your design.")
        compare_button = gr.Button("Compare", elem_id=f"{KEY}-compare")
        compared = gr.Dataframe(headers=COMPARE_HEADERS, datatype=COMPARE_TYPES, interactive=False, wrap=True,
                                pinned_columns=1, label="Your design beside the hand-designed necks",
                                elem_id=f"{KEY}-compare-table")
        with gr.Row():
            params_plot = figure_box("Parameters against latency", f"{KEY}-compare-params")
            erf_plot = figure_box("Effective receptive field of each output level", f"{KEY}-compare-erf")

    with gr.Accordion("Random search around this design", open=True):
        gr.Markdown(HONEST)
        with gr.Row():
            proxies = gr.CheckboxGroup(list(PROXIES), value=list(PROXIES)[1::2], label="Rank by",
                                       elem_id=f"{KEY}-proxies", scale=3)
            count = gr.Slider(1, 20, value=6, step=1, label="Variants to try", elem_id=f"{KEY}-count", scale=1)
            seconds = gr.Slider(10, 180, value=60, step=10, label="Time budget (s)", elem_id=f"{KEY}-seconds",
                                scale=1)
        with gr.Row():
            search_button = gr.Button("Search", elem_id=f"{KEY}-search")
            best_button = gr.Button("Put the top candidate in the table", elem_id=f"{KEY}-best")
        search_note = gr.Markdown(elem_id=f"{KEY}-search-note")
        results = gr.Dataframe(headers=SEARCH_HEADERS, datatype=["number", "str", "number", "number", "number",
                                                                 "number", "number"],
                               interactive=False, wrap=True, label="Candidates, best first",
                               elem_id=f"{KEY}-results")
        found = gr.State(None)

    with gr.Row():
        save_button = gr.Button("Save the design as JSON", elem_id=f"{KEY}-save")
        saved = gr.File(label="Saved design (download)", interactive=False, elem_id=f"{KEY}-saved")
        upload = gr.File(label="Load a design (.json)", file_types=[".json"], type="filepath",
                         elem_id=f"{KEY}-load")

    shown = [table, name, notes, status]
    for button, preset in zip(presets, PRESETS):
        button.click(lambda p=preset: load_preset(p), None, shown, api_visibility="private")
    validate.click(check, [table, name], status, api_name="playground_validate")
    mutate_button.click(mutate_table, [table, name], [table, status], api_name="playground_mutate")
    run_button.click(run, [session, table, name, stages], [state, info, *view, status], api_name="playground_run")
    compare_button.click(compare, [session, table, name, stages], [compared, params_plot, erf_plot],
                         api_name="playground_compare", concurrency_limit=1, concurrency_id="compare")
    search_button.click(search, [session, table, name, stages, proxies, count, seconds],
                        [results, found, search_note], api_name="playground_search", concurrency_limit=1,
                        concurrency_id="compare")
    best_button.click(take_best, [found], shown, api_visibility="private")
    save_button.click(save, [table, name], saved, api_name="playground_save")
    upload.upload(load, [upload], shown, api_name="playground_load")
