"""Write a neck lesson as files: every figure as PNG (300 dpi) and SVG, the shapes table as CSV and
JSON, the picture, and lesson.md stringing them together with each step's narration — then a ZIP
of it all, ready to drop into slides."""
from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image

from necklab.i18n import LANGS, t
from necklab.lab.analysis import Analysis
from necklab.lab.words import edge_label
from necklab.lessons import lesson_figures
from necklab.lessons.base import LessonFigure, first_stage
from necklab.models.registry import NECKS
from necklab.viz.slide import SLIDE_DPI, save_slide
from necklab.viz.step import NODE_TABLE_HEADERS, narration, node_table, node_table_headers

DPI = SLIDE_DPI
LANGUAGES = LANGS  # a pack is written in any language of the language files
ZIP_NAME = "lesson.zip"
Progress = Callable[[float, str], None]


def check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(t("pack.bad_language", lang, language=lang, choices=", ".join(LANGUAGES)))


def shapes_records(analysis: Analysis) -> list[dict]:
    """One record per node in execution order: the table's columns plus the full shape as a list."""
    records = []
    for row, node in zip(node_table(analysis), analysis.topology.nodes):
        record = dict(zip(NODE_TABLE_HEADERS, row))
        record["inputs"] = [{"source": e.source, "op": edge_label(e)} for e in node.inputs]
        record["shape"] = list(analysis.trace[node.id].shape[1:])
        records.append(record)
    return records


def write_shapes(analysis: Analysis, folder: Path, lang: str = "en") -> list[Path]:
    """shapes.csv, the table a person opens in a spreadsheet, in `lang`; shapes.json, the records
    a program reads, stays English in every language (`shapes_records`): its keys and op names are
    what code parses, so they must not change with the reader's language."""
    with open(folder / "shapes.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(node_table_headers(lang))
        writer.writerows(node_table(analysis, lang))
    (folder / "shapes.json").write_text(json.dumps(shapes_records(analysis), ensure_ascii=False, indent=1),
                                        encoding="utf-8")
    return [folder / "shapes.csv", folder / "shapes.json"]


def save_figure(figure: LessonFigure, folder: Path) -> list[Path]:
    """Draw one figure, save it as a 16:9 slide (PNG and SVG), and release it; returns the two files."""
    fig = figure.make()
    try:
        return save_slide(fig, folder, figure.name)
    finally:
        plt.close(fig)


def _image(figure: LessonFigure, lang: str) -> str:
    return (f"![{figure.caption}](figures/{figure.name}.png)\n\n"
            f"*{figure.caption}* · [{t('pack.svg', lang)}](figures/{figure.name}.svg)")


def lesson_markdown(analysis: Analysis, figures: list[LessonFigure], picture_name: str, lang: str = "en") -> str:
    """lesson.md in `lang`: the neck's key idea and facts, the picture, the graph, each step's
    narration beside its figure, the lesson's own figures and the shapes table."""
    spec = NECKS[analysis.neck_name]
    topology = analysis.topology
    h, w = analysis.picture.rgb.shape[:2]
    outputs = ", ".join(f"`{o}` {'×'.join(map(str, analysis.trace[o].shape[1:]))}" for o in analysis.outputs)
    config = ", ".join(f"{k}={v}" for k, v in analysis.config.items()) or t("pack.default_config", lang)
    parts = [t("pack.title", lang, neck=spec.title, picture=picture_name),
             t("lesson.key_idea", lang, idea=t(f"lesson.idea.{analysis.neck_name}", lang)),
             t("pack.intro", lang, seed=analysis.seed),
             t("pack.facts", lang, title=spec.title, paper=spec.paper, config=config, width=w, height=h,
               device=analysis.device, params=f"{analysis.params:,}", nodes=len(topology.nodes), outputs=outputs),
             t("pack.files", lang, dpi=DPI),
             t("pack.picture", lang), f"![{t('pack.the_picture', lang)}](picture.png)"]
    steps = [(f, f.node) for f in figures if f.node is not None]
    panel = [f for f in figures if f.node is None and f.name != "graph"]
    parts += [t("pack.graph", lang), *(_image(f, lang) for f in figures if f.name == "graph"), t("pack.steps", lang)]
    first = first_stage(analysis)
    if first is not None:
        count = len({n.stage for n in topology.nodes} - {None})
        parts.append(t("pack.stages", lang, neck=spec.title, count=count, first=first))
    for f, node in steps:
        parts += [narration(analysis, node, lang), _image(f, lang)]
    if panel:
        parts += [t("pack.panel", lang), *(_image(f, lang) for f in panel)]
    parts += [t("pack.shapes", lang), _markdown_table(node_table_headers(lang), node_table(analysis, lang))]
    return "\n\n".join(parts) + "\n"


def _markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value: object) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def zip_pack(folder: Path, files: list[Path]) -> Path:
    """The pack's files (only those: a folder written into twice keeps no stale figure in the ZIP)
    in `folder/lesson.zip`, with paths relative to the folder."""
    target = folder / ZIP_NAME
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for path in files:
            z.write(path, path.relative_to(folder).as_posix())
    return target


def write_pack(analysis: Analysis, out_dir: str | Path, lang: str = "en", picture_name: str | None = None,
               zip: bool = True, progress: Progress | None = None, steps: Sequence[str] | None = None) -> Path:
    """Write the lesson of `analysis` in `lang` into `out_dir` (created; files of an earlier pack
    there are replaced) and, with `zip`, `out_dir/lesson.zip` holding this pack's files; returns
    `out_dir`. `progress(fraction, text)` hears about each figure as it is drawn (in `lang`);
    `steps` limits the step figures to those nodes (default: `lesson_figures`' choice)."""
    check_language(lang)
    picture_name = picture_name or t("pack.the_picture", lang)
    report = progress or (lambda fraction, text: None)
    folder = Path(out_dir)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    Image.fromarray(analysis.picture.rgb).save(folder / "picture.png")
    files = [folder / "lesson.md", folder / "picture.png", *write_shapes(analysis, folder, lang)]
    figures = lesson_figures(analysis, steps, lang)
    for i, figure in enumerate(figures):
        report(i / (len(figures) + 1), t("pack.drawing", lang, name=figure.name, i=i + 1, n=len(figures)))
        files += save_figure(figure, folder / "figures")
    (folder / "lesson.md").write_text(lesson_markdown(analysis, figures, picture_name, lang), encoding="utf-8")
    if zip:
        report(len(figures) / (len(figures) + 1), t("pack.zipping", lang))
        zip_pack(folder, files)
    report(1.0, "")
    return folder
