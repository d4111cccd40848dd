"""Write a neck lesson as files: every figure as PNG (300 dpi) and SVG, the shapes table as CSV and
JSON, the picture, and lesson.md stringing them together with each step's narration — then a ZIP
of it all, ready to drop into slides."""
from __future__ import annotations

import csv
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import matplotlib.pyplot as plt
from PIL import Image

from necklab.lab.analysis import Analysis
from necklab.lab.words import edge_label
from necklab.lessons import lesson_figures
from necklab.lessons.base import LessonFigure, first_stage
from necklab.models.registry import NECKS
from necklab.viz.step import NODE_TABLE_HEADERS, narration, node_table

DPI = 300
LANGUAGES = ("en",)  # the bilingual views add "zh"
ZIP_NAME = "lesson.zip"
Progress = Callable[[float, str], None]

# Lesson page text, in one place for translation.
TEXT = {
    "title": "# {neck} on {picture}",
    "intro": ("NeckLab lesson pack. Backbone: EfficientNet-Lite0 with ImageNet weights; the neck's own "
              "weights are freshly initialised (seed {seed}), so the figures show structure, shapes and "
              "information flow — not what a trained detector responds to."),
    "facts": ("**{title}** — {paper}. Configuration: {config}. Picture analysed at {width}×{height} px "
              "on {device}. Parameters: {params:,} · {nodes} nodes · outputs: {outputs}."),
    "files": "Files: every figure as PNG ({dpi} dpi) and SVG in `figures/`; every node's shape in "
             "[shapes.csv](shapes.csv) and [shapes.json](shapes.json).",
    "picture": "## The picture",
    "graph": "## The graph",
    "steps": "## Step by step",
    "stages": ("{neck} repeats {count} stages built alike: the steps below are the nodes before them and "
               "those of stage {first}; the graph and the shapes table show every stage."),
    "panel": "## The lesson's figures",
    "svg": "SVG",
    "shapes": "## Shapes of every node",
    "drawing": "Drawing {name} ({i} of {n})",
    "zipping": "Packing the ZIP",
}


def check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not available; choose from {', '.join(LANGUAGES)}")


def shapes_records(analysis: Analysis) -> list[dict]:
    """One record per node in execution order: the table's columns plus the full shape as a list."""
    records = []
    for row, node in zip(node_table(analysis), analysis.topology.nodes):
        record = dict(zip(NODE_TABLE_HEADERS, row))
        record["inputs"] = [{"source": e.source, "op": edge_label(e)} for e in node.inputs]
        record["shape"] = list(analysis.trace[node.id].shape[1:])
        records.append(record)
    return records


def write_shapes(analysis: Analysis, folder: Path) -> list[Path]:
    with open(folder / "shapes.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(NODE_TABLE_HEADERS)
        writer.writerows(node_table(analysis))
    (folder / "shapes.json").write_text(json.dumps(shapes_records(analysis), ensure_ascii=False, indent=1),
                                        encoding="utf-8")
    return [folder / "shapes.csv", folder / "shapes.json"]


def save_figure(figure: LessonFigure, folder: Path) -> list[Path]:
    """Draw one figure, save it as PNG and SVG, and release it; returns the two files."""
    fig = figure.make()
    png, svg = folder / f"{figure.name}.png", folder / f"{figure.name}.svg"
    try:
        fig.savefig(png, dpi=DPI, metadata={"Software": "NeckLab"})
        fig.savefig(svg, metadata={"Date": None})  # reproducible files
    finally:
        plt.close(fig)
    return [png, svg]


def _image(figure: LessonFigure) -> str:
    return (f"![{figure.caption}](figures/{figure.name}.png)\n\n"
            f"*{figure.caption}* · [{TEXT['svg']}](figures/{figure.name}.svg)")


def lesson_markdown(analysis: Analysis, figures: list[LessonFigure], picture_name: str) -> str:
    spec = NECKS[analysis.neck_name]
    topology = analysis.topology
    h, w = analysis.picture.rgb.shape[:2]
    outputs = ", ".join(f"`{o}` {'×'.join(map(str, analysis.trace[o].shape[1:]))}" for o in analysis.outputs)
    config = ", ".join(f"{k}={v}" for k, v in analysis.config.items()) or "reference defaults"
    parts = [TEXT["title"].format(neck=spec.title, picture=picture_name),
             TEXT["intro"].format(seed=analysis.seed),
             TEXT["facts"].format(title=spec.title, paper=spec.paper, config=config, width=w, height=h,
                                  device=analysis.device, params=analysis.params, nodes=len(topology.nodes),
                                  outputs=outputs),
             TEXT["files"].format(dpi=DPI),
             TEXT["picture"], "![picture](picture.png)"]
    steps = [f for f in figures if f.node is not None]
    panel = [f for f in figures if f.node is None and f.name != "graph"]
    parts += [TEXT["graph"], *(_image(f) for f in figures if f.name == "graph"), TEXT["steps"]]
    first = first_stage(analysis)
    if first is not None:
        count = len({n.stage for n in topology.nodes} - {None})
        parts.append(TEXT["stages"].format(neck=spec.title, count=count, first=first))
    for f in steps:
        parts += [narration(analysis, f.node), _image(f)]
    if panel:
        parts += [TEXT["panel"], *(_image(f) for f in panel)]
    parts += [TEXT["shapes"], _markdown_table(NODE_TABLE_HEADERS, node_table(analysis))]
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


def write_pack(analysis: Analysis, out_dir: str | Path, lang: str = "en", picture_name: str = "the picture",
               zip: bool = True, progress: Progress | None = None) -> Path:
    """Write the lesson of `analysis` into `out_dir` (created; files of an earlier pack there are
    replaced) and, with `zip`, `out_dir/lesson.zip` holding this pack's files; returns `out_dir`.
    `progress(fraction, text)` hears about each figure as it is drawn."""
    check_language(lang)
    report = progress or (lambda fraction, text: None)
    folder = Path(out_dir)
    (folder / "figures").mkdir(parents=True, exist_ok=True)
    Image.fromarray(analysis.picture.rgb).save(folder / "picture.png")
    files = [folder / "lesson.md", folder / "picture.png", *write_shapes(analysis, folder)]
    figures = lesson_figures(analysis)
    for i, figure in enumerate(figures):
        report(i / (len(figures) + 1), TEXT["drawing"].format(name=figure.name, i=i + 1, n=len(figures)))
        files += save_figure(figure, folder / "figures")
    (folder / "lesson.md").write_text(lesson_markdown(analysis, figures, picture_name), encoding="utf-8")
    if zip:
        report(len(figures) / (len(figures) + 1), TEXT["zipping"])
        zip_pack(folder, files)
    report(1.0, "")
    return folder
