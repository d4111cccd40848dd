"""Write a neck lesson as files: every figure as a 16:9 slide (1920×1080 PNG at 300 dpi, and SVG
with editable text), the shapes table as CSV and JSON, the picture, and lesson.md, a lesson plan
stringing them together (necklab.pack.plan) — then a ZIP of it all, ready to drop into slides."""
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
from necklab.lessons.base import LessonFigure
from necklab.pack.plan import lesson_markdown
from necklab.viz.slide import SLIDE_DPI, save_slide
from necklab.viz.step import NODE_TABLE_HEADERS, node_table, node_table_headers

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
        report(i / (len(figures) + 1), t("pack.drawing", lang, caption=figure.caption, i=i + 1, n=len(figures)))
        files += save_figure(figure, folder / "figures")
    (folder / "lesson.md").write_text(lesson_markdown(analysis, figures, picture_name, lang), encoding="utf-8")
    if zip:
        report(len(figures) / (len(figures) + 1), t("pack.zipping", lang))
        zip_pack(folder, files)
    report(1.0, "")
    return folder
