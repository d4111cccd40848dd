"""NeckLab from Python — for Jupyter notebooks and scripts.

    from necklab.api import analyse_picture

    lab = analyse_picture("assets/samples/chelsea.png", "PAFPN")   # backbone + neck, one traced forward
    lab.top5()                  # the backbone's ImageNet top-5: {"Egyptian cat": 0.87, …}
    lab.shapes()[:3]            # one dict per node: step, node, op, inputs, stride, C, H, W, shape …
    lab.step(4)                 # a step: its node, shape, narration (Markdown) and figure
    lab.explain("N4")           # the rule that gives a node its C×H×W
    for name, fig in lab.figures():   # every figure of the lesson (a notebook shows a Figure inline)
        ...
    lab.pack("out/pafpn")       # the lesson pack the app's Export button writes: PNG, SVG, CSV, JSON, Markdown, ZIP

Neck names are the registry's keys or titles, any case ("pafpn", "PAFPN", "PANet (PAFPN)");
`config` takes the settings the app's tab offers (e.g. {"out_channels": 128}). `lang="zh"` gives
every word in Chinese: narration, explanations, figures, the pack and the error messages.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from necklab.i18n import t
from necklab.lab.analysis import Analysis, analyse, available_devices
from necklab.lab.imaging import ImageError, decode
from necklab.lab.shape_rules import explain
from necklab.lab.words import op_name, refusal_text, top_classes, weights_words
from necklab.lessons import lesson_figures
from necklab.models.refusal import Refusal
from necklab.models.registry import NECKS, Control
from necklab.models.spec import MAX_LIST_TEXT
from necklab.models.weights import CHOICES, TRAINED
from necklab.pack.write import check_language, shapes_records, write_pack
from necklab.viz.step import narration, step_figure


def resolve_neck(name: str, lang: str = "en") -> str:
    """The registry key of a neck named by its key or its title, in any case (an error in `lang`)."""
    wanted = name.strip().lower()
    for key, spec in NECKS.items():
        if wanted in (key, spec.title.lower()):
            return key
    choices = ", ".join(NECKS)
    raise ValueError(t("api.unknown_neck", lang, name=name, choices=choices))


def _value(control: Control, value: Any, lang: str) -> Any:
    """A setting's value from text or a Python value, checked against what the app's control allows."""
    text = str(value).strip()
    if control.kind == "choice":
        choices = {str(c).lower(): c for c in control.choices}
        if text.lower() not in choices:
            raise ValueError(t("api.bad_choice", lang, setting=control.arg,
                               choices=", ".join(map(str, control.choices)), value=value))
        return choices[text.lower()]
    if control.kind == "ints" and len(text) > MAX_LIST_TEXT:
        raise ValueError(t("neck.ints_count", lang, label=control.arg, longest=control.longest))
    parts = text.strip("()[]").replace(",", " ").split()
    numbers = [int(p) for p in parts if p.lstrip("-").isdigit()]
    in_range = len(numbers) == len(parts) and all(control.minimum <= n <= control.maximum for n in numbers)
    if control.kind == "int":
        if not in_range or len(numbers) != 1:
            raise ValueError(t("api.bad_int", lang, setting=control.arg, low=control.minimum, high=control.maximum,
                               value=value))
        return numbers[0]
    if len(numbers) > control.longest:
        raise ValueError(t("neck.ints_count", lang, label=control.arg, longest=control.longest))
    if not numbers or not in_range or len(set(numbers)) != len(numbers):
        raise ValueError(t("api.bad_ints", lang, setting=control.arg, low=control.minimum, high=control.maximum,
                           value=value))
    return tuple(numbers)


def neck_config(neck: str, settings: Mapping[str, Any], lang: str = "en") -> dict[str, Any]:
    """Build arguments of a neck from settings the app's tab offers (values as text or Python);
    errors in `lang`."""
    spec = NECKS[resolve_neck(neck, lang)]
    controls = {c.arg: c for c in spec.controls}
    config = {}
    for key, value in settings.items():
        if key not in controls:
            raise ValueError(t("api.unknown_setting", lang, neck=spec.title, setting=key, choices=", ".join(controls))
                             if controls else t("api.no_settings", lang, neck=spec.title))
        config[key] = _value(controls[key], value, lang)
    return config


@dataclass(frozen=True)
class Step:
    index: int
    node: str
    op: str
    shape: tuple[int, ...]
    narration: str  # Markdown
    figure: Figure

    def _repr_markdown_(self) -> str:
        return self.narration


@dataclass
class Lab:
    """One analysed picture with one neck: its figures, shapes, steps and pack, in `lang`."""

    analysis: Analysis
    picture_name: str | None = None  # None: "the picture" in `lang`
    lang: str = "en"

    def shapes(self) -> list[dict]:
        """One record per node in execution order (what the pack's shapes.json holds)."""
        return shapes_records(self.analysis)

    def top5(self) -> dict[str, float]:
        """The backbone's five most likely ImageNet classes, {name in `lang`: probability}, most
        likely first."""
        return top_classes(self.analysis.backbone.top5, self.lang)

    def step(self, index: int) -> Step:
        """Step `index` of the execution order (negative counts from the end)."""
        order = self.analysis.topology.order
        node = order[index]
        return Step(order.index(node), node, op_name(self.analysis.topology.node(node).op, self.lang),
                    tuple(self.analysis.trace[node].shape[1:]), narration(self.analysis, node, self.lang),
                    step_figure(self.analysis, node, lang=self.lang))

    def explain(self, node: str, lang: str | None = None) -> str:
        """The rule that gives `node` its C×H×W, with this analysis's numbers (Markdown), in `lang`
        (default: the Lab's)."""
        return explain(self.analysis, node, lang or self.lang).text

    def figures(self) -> list[tuple[str, Figure]]:
        """Every figure of the lesson as (name, Figure): the graph, each step (of the first stage
        where the neck repeats stages) and the tab's lesson figures. Drawing them all takes a while."""
        return [(f.name, f.make()) for f in lesson_figures(self.analysis, lang=self.lang)]

    def pack(self, out_dir: str | Path, zip: bool = True, progress: Any = None) -> Path:
        """Write the lesson pack into `out_dir` (and `out_dir/lesson.zip`); returns `out_dir`."""
        return write_pack(self.analysis, out_dir, lang=self.lang, picture_name=self.picture_name, zip=zip,
                          progress=progress)

    def _repr_markdown_(self) -> str:
        a = self.analysis
        outputs = ", ".join(f"`{o}` {'×'.join(map(str, a.trace[o].shape[1:]))}" for o in a.outputs)
        return t("api.summary", self.lang, title=NECKS[a.neck_name].title, weights=weights_words(a.weights, self.lang),
                 picture=self.picture_name or t("pack.the_picture", self.lang), nodes=len(a.topology.nodes),
                 params=f"{a.params:,}", outputs=outputs)


def analyse_picture(picture: str | Path, neck: str, config: Mapping[str, Any] | None = None, device: str = "cpu",
                    lang: str = "en", seed: int = 0, weights: str = TRAINED) -> Lab:
    """Decode a picture file, run the backbone and the neck once with tracing, and return a `Lab`
    whose words are in `lang`: with the neck's trained weights (`weights="trained"`, where its
    configuration has them; `lab.analysis.weights` says which ran) or fresh ones seeded by `seed`.
    Raises ValueError (necklab.lab.imaging.ImageError for pictures) with
    a message in `lang` saying what to fix."""
    check_language(lang)
    if not Path(picture).is_file():
        raise ValueError(t("api.no_file", lang, picture=picture))
    key = resolve_neck(neck, lang)
    settings = neck_config(key, config or {}, lang)
    if weights not in CHOICES:
        raise ValueError(t("api.bad_weights", lang, weights=weights, choices=", ".join(CHOICES)))
    if device not in available_devices():
        raise ValueError(t("api.bad_device", lang, device=device, choices=", ".join(available_devices())))
    try:
        decoded = decode(picture)
    except ImageError as e:
        raise e.worded(lang) from None
    try:
        analysis = analyse(decoded, key, settings, device, seed, weights)
    except Refusal as e:  # a configuration the neck cannot take, said in `lang`
        raise ValueError(refusal_text(e, lang)) from None
    return Lab(analysis, Path(picture).name, lang)
