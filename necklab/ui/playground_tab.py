"""The Playground tab: design a NAS-FPN stage cell by cell, check it, run it on the picture with the
common graph and step-through, compare it with FPN, PANet and NAS-FPN, train it briefly and read its held-out AP,
mutate it, search around it, and save or load it as JSON.

"Train this design" runs as a chain of short events: Train makes the run (necklab.train.quick) and
starts a timer; each tick is one queued event that trains one slice of about 2 s and says how far it
got, so the run holds a worker for one slice at a time and the fair line serves other sessions
between slices; Cancel (not queued) stops it at once."""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from necklab.i18n import LANGS, t
from necklab.lab.playground import (
    AP,
    PROXIES,
    Candidate,
    compare_design,
    design_spec,
    mutate,
    output_erfs,
    random_search,
    run_design,
)
from necklab.lab.words import refusal_text
from necklab.models.cell_design import LEVELS, MAX_CELLS, OPS, PRESETS, Design, DesignError, from_json, from_rows
from necklab.models.registry import NeckSpec
from necklab.train.cutouts import DataSourceMissing
from necklab.train.quick import (
    BATCH,
    BOARD,
    JOBS,
    MAX_SECONDS,
    MIN_SECONDS,
    QUICK_TRAIN,
    QUICK_VAL,
    SEARCH_SECONDS,
    QuickData,
    QuickJob,
    quick_data,
    quick_train,
)
from necklab.ui.neck_tab import TabView, build_step_view, steps_around, summary, tab_view
from necklab.viz.aspp import erf_figure
from necklab.viz.compare import COMPARE_TYPES, compare_headers, compare_rows, params_latency_figure
from necklab.widgets.common import ScratchFolder, figure_box, image, number, upload_path, whole
from necklab.widgets.events import Shows, event, time_limit
from necklab.widgets.session import Session, session_picture
from necklab.widgets.tab import Chained
from necklab.widgets.text import inert, localised

KEY = "playground"
START = "NAS-FPN"
FILES = ScratchFolder("necklab-designs-")  # saved designs, one folder per server process


@dataclass(frozen=True)
class Cells:
    """The cell table (its rows, or a table update) and the design's status."""

    table: Any
    status: str


@dataclass(frozen=True)
class DesignShown(Cells):
    """A design put on screen: its cells, status, name and notes."""

    name: str
    notes: str


@dataclass(frozen=True)
class Relanguaged(Cells):
    """The design in a new language: its cells and status, and a preset's name and notes (a
    design of the learner's own keeps its name: gr.skip())."""

    name: Any
    notes: Any


@dataclass(frozen=True)
class DesignRun(TabView):
    """The design run on the picture: the step view's values, and the design's status."""

    status: str


@dataclass(frozen=True)
class DesignCompared:
    """The design beside FPN, PANet and NAS-FPN: table, parameters against latency, and the
    effective receptive field of each of the design's output levels."""

    compared: list[list]
    params: Any
    erf: Any


@dataclass(frozen=True)
class Training:
    """A short training on screen: the run's token (None: no run), what it is doing, the table of
    runs to compare with (gr.skip(): unchanged), and the timer that drives the slices (on or off)."""

    token: str | None
    note: str
    board: Any
    ticking: Any


@dataclass(frozen=True)
class Searched:
    """A search around the design: the ranked table, the candidates, and what was measured."""

    results: list[list]
    found: list[Candidate]
    note: str


def table_words(lang: str = "en") -> dict[str, str]:
    """How the cell table names the ops ("sum", "gp") and "yes" / "no" in `lang`."""
    return {"sum": t("design.op_sum", lang), "gp": t("design.op_gp", lang), "yes": t("playground.yes", lang),
            "no": t("playground.no", lang)}


def read_words() -> dict[str, str]:
    """A table's words in any language → the English ones the design reads: a table typed before
    a language switch still reads."""
    english = {**table_words("en"), "gp": "gp"}
    return {word: english[key] for lang in LANGS for key, word in table_words(lang).items()}


def preset_name(design: Design, lang: str = "en") -> str:
    """A preset's name in `lang`; a design of the learner's own keeps its name."""
    return t(f"playground.preset.{design.preset}.name", lang) if design.preset else design.name


def preset_notes(design: Design, lang: str = "en") -> str:
    """How a preset differs from the neck it is named after, in `lang` ("" for any other design)."""
    if not design.preset:
        return ""
    return t(f"playground.preset.{design.preset}.notes", lang, cell_conv=t("playground.preset.cell_conv", lang))


def preset_button(lang: str, name: str) -> str:
    return t("playground.start_from", lang, name=preset_name(PRESETS[name], lang))


def cells_label(lang: str) -> str:
    words = table_words(lang)
    return t("playground.cells", lang, max=MAX_CELLS, ops=t("playground.or", lang).join(words[op] for op in OPS),
             first=LEVELS[0], last=LEVELS[-1], yes=words["yes"], no=words["no"])


def headers(lang: str = "en") -> list[str]:
    return t("playground.headers", lang).split("|")


def search_headers(lang: str = "en") -> list[str]:
    return t("playground.search_headers", lang).split("|")


def error_text(error: DesignError, lang: str) -> str:
    """Validation's message in `lang`, the learner's own text in it (a cell, an op) made inert."""
    fields = {k: inert(v) if isinstance(v, str) else v for k, v in error.fields.items()}
    return refusal_text(DesignError(error.key, **fields), lang)


def read_design(rows: Any, name: str, lang: str = "en") -> Design:
    """The table's design, or a gr.Error with validation's message in `lang`."""
    values = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
    try:
        return from_rows(values, (name or "my design").strip(), read_words())
    except DesignError as e:
        raise gr.Error(error_text(e, lang)) from None


def describe(design: Design, lang: str = "en") -> str:
    """What the stage outputs, and cells that do nothing."""
    outputs = ", ".join(t("playground.output", lang, level=lvl, k=k) for lvl, k in sorted(design.producers().items()))
    text = t("playground.valid", lang, name=inert(design.name), n=len(design.cells), outputs=outputs)
    unused = design.unused()
    if unused:
        text += t("playground.unused", lang, cells=", ".join(t("playground.cell", lang, k=k) for k in unused))
    return text


def show_design(design: Design, status: str, lang: str = "en") -> DesignShown:
    return DesignShown(table=design.rows(table_words(lang)), status=status, name=design.name,
                       notes=preset_notes(design, lang))


def load_preset(session: Session, name: str) -> DesignShown:
    lang = session.lang
    design = replace(PRESETS[name], name=preset_name(PRESETS[name], lang))
    return show_design(design, describe(design, lang), lang)


def check(session: Session, rows: Any, name: str) -> str:
    """Validate without raising: the message is the lesson."""
    lang = session.lang
    try:
        return describe(read_design(rows, name, lang), lang)
    except gr.Error as e:
        return t("playground.not_valid", lang, message=e.message)


@time_limit(60)
def run(session: Session, rows: Any, name: str, stages: float, progress: gr.Progress = gr.Progress()) -> DesignRun:
    """Build the design and run it on the session's picture."""
    lang = session.lang
    design = read_design(rows, name, lang)
    stages = whole(stages, lang)
    picture, device = session_picture(session)
    progress(0.1, desc=t("playground.running", lang, name=design.name, stages=stages, device=device))
    analysis = run_design(picture, design, stages, device)
    progress(0.6, desc=t("playground.drawing", lang))
    return DesignRun(**vars(tab_view(analysis, summary(analysis, spec_in(design, lang), lang), lang)),
                     status=describe(design, lang))


def spec_in(design: Design, lang: str) -> NeckSpec:
    """The design's registry entry with its words in `lang`; its title (with the design's name) goes
    into the summary's Markdown."""
    return design_spec(replace(design, name=inert(design.name)), lang)


def mutate_table(session: Session, rows: Any, name: str) -> Cells:
    lang = session.lang
    design = read_design(rows, name, lang)
    mutated, words = mutate(design, random.Random(), lang)
    return Cells(table=mutated.rows(table_words(lang)), status=t("playground.mutated", lang, words=words,
                                                describe=describe(mutated, lang)))


@time_limit(120)
def compare(session: Session, rows: Any, name: str, stages: float,
            progress: gr.Progress = gr.Progress()) -> DesignCompared:
    lang = session.lang
    design = read_design(rows, name, lang)
    stages = whole(stages, lang)
    picture, device = session_picture(session)
    result = compare_design(picture, design, stages, device,
                            progress=lambda i, title: progress((i, 5),
                                                               desc=t("playground.measuring", lang, title=title)))
    progress((4, 5), desc=t("playground.erfs", lang))
    analysis = run_design(picture, design, stages, device)
    erfs, cells = output_erfs(analysis)
    subtitle = t("playground.subtitle", lang, w=picture.size[0], h=picture.size[1], device=device, stages=stages)
    return DesignCompared(compared=compare_rows(result, lang),
                          params=image(params_latency_figure(result, subtitle, lang)),
                          erf=image(erf_figure(analysis, erfs, cells, lang)))


def search(session: Session, rows: Any, name: str, stages: float, proxies: list[str], count: float,
           seconds: float, progress: gr.Progress = gr.Progress()) -> Searched:
    lang = session.lang
    design = read_design(rows, name, lang)
    stages, count, seconds = whole(stages, lang), whole(count, lang), number(seconds, lang)
    if not proxies:
        raise gr.Error(t("playground.no_proxy", lang))
    picture, device = session_picture(session)
    total = count + 1
    trains = AP in proxies
    data = training_data(lang, progress) if trains else None

    def train(candidate: Design) -> float:
        return quick_train(candidate, stages, SEARCH_SECONDS, data=data).ap["AP"]

    found = random_search(picture, design, stages, proxies, count, seconds, device,
                          seed=random.randrange(2 ** 31),
                          progress=lambda i, title: progress((i, total), desc=t("playground.measuring", lang,
                                                                                title=title)),
                          lang=lang, train=train if trains else None, train_seconds=SEARCH_SECONDS)
    def rounded(value: float | None, digits: int) -> float | None:  # None: not measured (the neck failed)
        return None if value is None else round(value, digits)

    table = [[i, c.change, c.row.params, rounded(None if c.row.flops is None else c.row.flops / 1e9, 3),
              rounded(c.row.latency_ms, 2), rounded(c.row.erf_percent, 1), rounded(c.ap, 1), round(c.score, 2)]
             for i, c in enumerate(found, start=1)]
    measured = len(found) - 1
    budget = (t("playground.budget", lang, seconds=f"{seconds:.0f}", count=count)
              if measured < count else "")
    note = (t("playground.measured", lang, n=measured, budget=budget, proxies=", ".join(proxies))
            + (t("playground.search_trained", lang, seconds=SEARCH_SECONDS) if trains else "")
            + t("playground.honest", lang))
    return Searched(results=table, found=found, note=note)


def training_data(lang: str, progress: gr.Progress) -> QuickData:
    """The quick run's scenes' features (computed on the server's first run, with progress), or a
    gr.Error naming the package to install when the training data is missing."""
    try:
        return quick_data(lambda share, text: progress(share, desc=t("playground.train_preparing", lang,
                                                                      percent=round(100 * share))))
    except DataSourceMissing as e:
        raise gr.Error(e.text(lang)) from None


def start_training(session: Session, rows: Any, name: str, stages: float, seconds: float,
                   progress: gr.Progress = gr.Progress()) -> Training:
    """Make a short run of the design (its first slice waits for the next tick) and start the timer."""
    lang = session.lang
    design = read_design(rows, name, lang)
    stages = whole(stages, lang)
    seconds = min(max(round(number(seconds, lang)), MIN_SECONDS), MAX_SECONDS)
    job = QuickJob(design, stages, seconds, training_data(lang, progress))
    return Training(token=JOBS.add(job), note=t("playground.train_started", lang, name=inert(design.name),
                                                  seconds=seconds, n_train=QUICK_TRAIN, batch=BATCH),
                    board=gr.skip(), ticking=gr.Timer(active=True))


def advance_training(session: Session, token: str | None) -> Training:
    """One slice of the session's run; once it is over, the next tick evaluates it: its held-out AP
    and the runs to compare it with."""
    lang = session.lang
    job = JOBS.get(token)
    if job is None:
        return Training(None, t("playground.train_lost", lang) if token else t("playground.train_nothing", lang),
                        gr.skip(), gr.Timer(active=False))
    name = inert(job.design.name)
    if job.stopped is None:  # a slice of training; the evaluation is a slice of its own
        over = job.advance()
        if job.stopped == "cancelled":
            JOBS.pop(token)
            return Training(None, t("playground.train_cancelled", lang, steps=job.steps), gr.skip(),
                            gr.Timer(active=False))
        note = (t("playground.train_evaluating", lang, name=name, steps=job.steps, n_val=QUICK_VAL) if over else
                t("playground.train_progress", lang, name=name, step=job.steps,
                  loss=f"{job.losses[-1]:.3f}" if job.losses else "–", left=f"{job.left:.0f}"))
        return Training(token, note, gr.skip(), gr.skip())
    JOBS.pop(token)
    result = job.result()
    BOARD.record(job.design, job.stages, job.budget, result)
    note = t("playground.train_done", lang, name=name, ap=f"{result.ap['AP']:.1f}", steps=result.steps,
             seconds=f"{result.seconds:.0f}", why=t(f"playground.why.{result.stopped}", lang))
    return Training(None, note, board_table(job.design, job.stages, job.budget, lang), gr.Timer(active=False))


def board_table(design: Design, stages: int, budget: float, lang: str) -> Any:
    """The design's short-training metrics beside the presets' at the same stages and seconds."""
    presets = {preset_name(d, lang): d for d in PRESETS.values()}

    def shown(value: float) -> float | None:
        return None if value < 0 else round(value, 1)  # −1: no object of that size in the scenes

    rows = [[name or t("playground.train_this", lang, name=inert(preset_name(design, lang))), e.result.steps,
             round(e.result.seconds), *(shown(e.result.ap[k]) for k in ("AP", "AP50", "AP_S", "AP_M", "AP_L"))]
            for name, e in BOARD.like(design, stages, budget, presets)]
    return gr.Dataframe(value=rows, headers=train_headers(lang),
                        label=t("playground.train_board", lang, stages=stages, seconds=f"{budget:.0f}"))


def cancel_training(session: Session, token: str | None) -> Training:
    """Stop the session's run now (a slice under way stops at its next step); nothing is evaluated."""
    lang = session.lang
    job = JOBS.pop(token)
    if job is None:
        return Training(None, t("playground.train_nothing", lang), gr.skip(), gr.Timer(active=False))
    job.cancelled = True
    return Training(None, t("playground.train_cancelled", lang, steps=job.steps), gr.skip(), gr.Timer(active=False))


def train_headers(lang: str = "en") -> list[str]:
    return t("playground.train_headers", lang).split("|")


def take_best(session: Session, found: list[Candidate] | None) -> DesignShown:
    lang = session.lang
    if not found:
        raise gr.Error(t("playground.no_search", lang))
    best = found[0]
    return show_design(best.design,
                       t("playground.took", lang, change=best.change, describe=describe(best.design, lang)), lang)


def save(rows: Any, name: str) -> str:
    design = read_design(rows, name)
    stem = "".join(c if c.isalnum() else "_" for c in design.name)[:40] or "design"
    folder = FILES.path / uuid.uuid4().hex[:8]  # one folder per save: the file keeps its readable name
    folder.mkdir()
    path = folder / f"{stem}.json"
    path.write_text(design.to_json(), encoding="utf-8")
    return str(path)


def load(session: Session, upload: Any) -> DesignShown | None:
    lang = session.lang
    if upload is None:
        return None
    path = upload_path(upload, lang, "playground.only_uploads")  # an API client can send any path
    try:
        design = from_json(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise gr.Error(t("playground.not_text", lang)) from None
    except DesignError as e:
        raise gr.Error(t("playground.cannot_load", lang, message=error_text(e, lang))) from None
    return show_design(design, t("playground.loaded", lang, name=inert(design.name), describe=describe(design, lang)),
                       lang)


def proxy_choices(lang: str) -> list[tuple[str, str]]:
    """The ranking proxies as (words in `lang`, the PROXIES key the search reads)."""
    return [(t(f"playground.proxy.{proxy.key}", lang), label) for label, proxy in PROXIES.items()]


def build_playground_tab(session: gr.State) -> Chained:
    """Build the tab's components and wire its events (call inside a gr.Tab). Returns the event that
    rewrites the table's headers and the design's status in a new language."""
    localised(gr.Markdown, {"value": "playground.intro"})
    start = PRESETS[START]
    with gr.Row():
        presets = [localised(gr.Button, {"value": partial(preset_button, name=name)},
                             elem_id=f"{KEY}-preset-{i}",
                             size="sm") for i, name in enumerate(PRESETS)]
    with gr.Row():
        name = localised(gr.Textbox, {"label": "playground.name"}, value=start.name, elem_id=f"{KEY}-name", scale=2)
        stages = localised(gr.Slider, {"label": "playground.stages"}, minimum=1, maximum=7, value=1, step=1,
                           elem_id=f"{KEY}-stages", scale=3)
    notes = gr.Markdown(preset_notes(start), elem_id=f"{KEY}-notes")
    table = localised(gr.Dataframe, {"label": cells_label, "headers": headers}, value=start.rows(), datatype="str",
                      type="array", interactive=True, row_count=len(start.cells), column_count=len(headers()),
                      show_row_numbers=True, elem_id=f"{KEY}-cells")
    with gr.Row():
        validate = localised(gr.Button, {"value": "playground.validate"}, elem_id=f"{KEY}-validate")
        mutate_button = localised(gr.Button, {"value": "playground.mutate"}, elem_id=f"{KEY}-mutate")
        run_button = localised(gr.Button, {"value": "playground.run"}, variant="primary", elem_id=f"{KEY}-run")
    status = gr.Markdown(describe(start), elem_id=f"{KEY}-status")
    info = localised(gr.Markdown, {"value": "common.no_picture"}, elem_id=f"{KEY}-summary")
    state = gr.State(None)
    view = build_step_view(KEY, session, state)
    boxes = view.boxes

    with localised(gr.Accordion, {"label": "playground.side"}, open=True):
        localised(gr.Markdown, {"value": "playground.side_intro"})
        compare_button = localised(gr.Button, {"value": "playground.compare"}, elem_id=f"{KEY}-compare")
        compared = localised(gr.Dataframe, {"label": "playground.compared", "headers": compare_headers},
                             datatype=COMPARE_TYPES, interactive=False, wrap=True, pinned_columns=1,
                             elem_id=f"{KEY}-compare-table")
        with gr.Row():
            params_plot = figure_box("playground.params", f"{KEY}-compare-params")
            erf_plot = figure_box("playground.erf", f"{KEY}-compare-erf")

    with localised(gr.Accordion, {"label": "playground.train_title"}, open=True):
        localised(gr.Markdown, {"value": "playground.train_intro"})
        with gr.Row():
            train_seconds = localised(gr.Slider, {"label": "playground.train_seconds"}, minimum=MIN_SECONDS,
                                      maximum=MAX_SECONDS, value=60, step=10, elem_id=f"{KEY}-train-seconds", scale=2)
            train_button = localised(gr.Button, {"value": "playground.train"}, variant="primary",
                                     elem_id=f"{KEY}-train", scale=1)
            cancel_button = localised(gr.Button, {"value": "playground.cancel"}, variant="stop",
                                      elem_id=f"{KEY}-train-cancel", scale=1)
        train_note = gr.Markdown(elem_id=f"{KEY}-train-note")
        train_board = localised(gr.Dataframe, {"headers": train_headers}, interactive=False, wrap=True,
                                datatype=["str"] + ["number"] * 7, elem_id=f"{KEY}-train-board")
        train_token = gr.State(None)
        timer = gr.Timer(0.5, active=False)

    with localised(gr.Accordion, {"label": "playground.search_title"}, open=True):
        localised(gr.Markdown, {"value": "playground.honest"})
        with gr.Row():
            proxies = localised(gr.CheckboxGroup, {"label": "playground.rank_by", "choices": proxy_choices},
                                value=list(PROXIES)[1::2], elem_id=f"{KEY}-proxies", scale=3)
            count = localised(gr.Slider, {"label": "playground.count"}, minimum=1, maximum=20, value=6, step=1,
                              elem_id=f"{KEY}-count", scale=1)
            seconds = localised(gr.Slider, {"label": "playground.seconds"}, minimum=10, maximum=180, value=60, step=10,
                                elem_id=f"{KEY}-seconds", scale=1)
        with gr.Row():
            search_button = localised(gr.Button, {"value": "playground.search"}, elem_id=f"{KEY}-search")
            best_button = localised(gr.Button, {"value": "playground.best"}, elem_id=f"{KEY}-best")
        search_note = gr.Markdown(elem_id=f"{KEY}-search-note")
        results = localised(gr.Dataframe, {"label": "playground.results", "headers": search_headers},
                            datatype=["number", "str"] + ["number"] * 6,
                            interactive=False, wrap=True, elem_id=f"{KEY}-results")
        found = gr.State(None)

    with gr.Row():
        save_button = localised(gr.Button, {"value": "playground.save"}, elem_id=f"{KEY}-save")
        saved = localised(gr.File, {"label": "playground.saved"}, interactive=False, elem_id=f"{KEY}-saved")
        upload = localised(gr.File, {"label": "playground.load"}, file_types=[".json"], type="filepath",
                           elem_id=f"{KEY}-load")

    shown = Shows(DesignShown, table=table, name=name, notes=notes, status=status)
    for button, preset in zip(presets, PRESETS):
        button.click(event(partial(load_preset, name=preset), shown), [session], shown.outputs,
                     api_visibility="private")
    validate.click(event(check), [session, table, name], status, api_name="playground_validate")
    cells = Shows(Cells, table=table, status=status)
    mutate_button.click(event(mutate_table, cells), [session, table, name], cells.outputs, api_name="playground_mutate")
    ran = Shows(DesignRun, analysis=state, summary=info, **vars(boxes), status=status)
    ran_design = run_button.click(event(run, ran), [session, table, name, stages], ran.outputs,
                                  api_name="playground_run")
    # The steps beside the one on screen, for Prev / Next (`steps_around`): after a run and each step.
    stepped = [session, state, boxes.step, boxes.every]
    for shown_anew in (ran_design.then, boxes.step.change):
        shown_anew(event(steps_around), stepped, [view.around], api_visibility="private")
    compared_shows = Shows(DesignCompared, compared=compared, params=params_plot, erf=erf_plot)
    compare_button.click(event(compare, compared_shows), [session, table, name, stages], compared_shows.outputs,
                         api_name="playground_compare", concurrency_limit=1, concurrency_id="compare")
    training = Shows(Training, token=train_token, note=train_note, board=train_board, ticking=timer)
    train_button.click(event(start_training, training), [session, table, name, stages, train_seconds],
                       training.outputs, api_name="playground_train")
    ticked = timer.tick(event(advance_training, training), [session, train_token], training.outputs,
                        api_visibility="private")
    cancel_button.click(event(cancel_training, training), [session, train_token], training.outputs,
                        cancels=[ticked], queue=False, api_visibility="private")
    searched = Shows(Searched, results=results, found=found, note=search_note)
    search_button.click(event(search, searched), [session, table, name, stages, proxies, count, seconds],
                        searched.outputs, api_name="playground_search", concurrency_limit=1, concurrency_id="compare")
    best_button.click(event(take_best, shown), [session, found], shown.outputs, api_visibility="private")
    save_button.click(save, [table, name], saved, api_name="playground_save")
    upload.upload(event(load, shown), [session, upload], shown.outputs, api_name="playground_load")
    relanguaged = Shows(Relanguaged, table=table, status=status, name=name, notes=notes)
    return event(relanguage, relanguaged), [session, table, name], relanguaged.outputs


def relanguage(session: Session, rows: Any, name: str) -> Relanguaged:
    """After a language switch: the cell table under headers in the session's language (an edited
    table keeps its own headers otherwise), its ops and yes / no in that language when it reads as a
    design, a preset's name and notes in that language, and the design's status."""
    lang = session.lang
    values = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
    preset = next((d for d in PRESETS.values() if name in {preset_name(d, other) for other in LANGS}), None)
    if preset is not None:
        name = preset_name(preset, lang)
    try:
        values = from_rows(values, name, read_words()).rows(table_words(lang))
    except DesignError:
        pass  # the table as typed: its status says what is wrong
    return Relanguaged(table=gr.Dataframe(value=values, headers=headers(lang)), status=check(session, values, name),
                       name=gr.skip() if preset is None else name,
                       notes=gr.skip() if preset is None else preset_notes(preset, lang))
