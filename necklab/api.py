"""NeckLab from Python — for Jupyter notebooks and scripts.

    from necklab.api import analyse_picture

    lab = analyse_picture("assets/samples/chelsea.png", "PAFPN")   # backbone + neck, one traced forward
    lab.shapes()[:3]            # one dict per node: step, node, op, inputs, stride, C, H, W, shape …
    lab.step(4)                 # a step: its node, shape, narration (Markdown) and figure
    lab.explain("N4")           # the rule that gives a node its C×H×W
    for name, fig in lab.figures():   # every figure of the lesson (a notebook shows a Figure inline)
        ...
    lab.pack("out/pafpn")       # the lesson pack the app's Export button writes: PNG, SVG, CSV, JSON, Markdown, ZIP

Neck names are the registry's keys or titles, any case ("pafpn", "PAFPN", "PANet (PAFPN)");
`config` takes the settings the app's tab offers (e.g. {"out_channels": 128}).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from necklab.lab.analysis import Analysis, analyse, available_devices
from necklab.lab.imaging import decode
from necklab.lab.shape_rules import explain
from necklab.lessons import lesson_figures
from necklab.models.registry import NECKS, Control
from necklab.pack.write import check_language, shapes_records, write_pack
from necklab.viz.step import narration, step_figure

TEXT = {
    "unknown_neck": "unknown neck {name!r}; choose one of: {choices}",
    "unknown_setting": "{neck} has no setting {key!r}; its settings are: {choices}",
    "no_settings": "{neck} has no settings to change",
    "bad_int": "{key}: give a whole number from {low} to {high}, not {value!r}",
    "bad_choice": "{key}: choose one of {choices}, not {value!r}",
    "bad_ints": "{key}: give distinct whole numbers from {low} to {high} separated by commas, not {value!r}",
    "no_file": "{picture}: no such file",
    "bad_device": "device {device!r} is not available here; choose one of: {choices}",
}


def resolve_neck(name: str) -> str:
    """The registry key of a neck named by its key or its title, in any case."""
    wanted = name.strip().lower()
    for key, spec in NECKS.items():
        if wanted in (key, spec.title.lower()):
            return key
    choices = ", ".join(NECKS)
    raise ValueError(TEXT["unknown_neck"].format(name=name, choices=choices))


def _value(control: Control, value: Any) -> Any:
    """A setting's value from text or a Python value, checked against what the app's control allows."""
    text = str(value).strip()
    if control.kind == "choice":
        choices = {str(c).lower(): c for c in control.choices}
        if text.lower() not in choices:
            raise ValueError(TEXT["bad_choice"].format(key=control.arg, choices=", ".join(map(str, control.choices)),
                                                       value=value))
        return choices[text.lower()]
    parts = text.strip("()[]").replace(",", " ").split()
    numbers = [int(p) for p in parts if p.lstrip("-").isdigit()]
    in_range = len(numbers) == len(parts) and all(control.minimum <= n <= control.maximum for n in numbers)
    if control.kind == "int":
        if not in_range or len(numbers) != 1:
            raise ValueError(TEXT["bad_int"].format(key=control.arg, low=control.minimum, high=control.maximum,
                                                    value=value))
        return numbers[0]
    if not numbers or not in_range or len(set(numbers)) != len(numbers):
        raise ValueError(TEXT["bad_ints"].format(key=control.arg, low=control.minimum, high=control.maximum,
                                                 value=value))
    return tuple(numbers)


def neck_config(neck: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """Build arguments of a neck from settings the app's tab offers (values as text or Python)."""
    spec = NECKS[resolve_neck(neck)]
    controls = {c.arg: c for c in spec.controls}
    config = {}
    for key, value in settings.items():
        if key not in controls:
            raise ValueError(TEXT["unknown_setting"].format(neck=spec.title, key=key, choices=", ".join(controls))
                             if controls else TEXT["no_settings"].format(neck=spec.title))
        config[key] = _value(controls[key], value)
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
    """One analysed picture with one neck: its figures, shapes, steps and pack."""

    analysis: Analysis
    picture_name: str = "the picture"
    lang: str = "en"

    def shapes(self) -> list[dict]:
        """One record per node in execution order (what the pack's shapes.json holds)."""
        return shapes_records(self.analysis)

    def step(self, index: int) -> Step:
        """Step `index` of the execution order (negative counts from the end)."""
        order = self.analysis.topology.order
        node = order[index]
        return Step(order.index(node), node, self.analysis.topology.node(node).op,
                    tuple(self.analysis.trace[node].shape[1:]), narration(self.analysis, node),
                    step_figure(self.analysis, node))

    def explain(self, node: str, lang: str = "en") -> str:
        """The rule that gives `node` its C×H×W, with this analysis's numbers (Markdown), in `lang`."""
        return explain(self.analysis, node, lang).text

    def figures(self) -> list[tuple[str, Figure]]:
        """Every figure of the lesson as (name, Figure): the graph, each step (of the first stage
        where the neck repeats stages) and the tab's lesson figures. Drawing them all takes a while."""
        return [(f.name, f.make()) for f in lesson_figures(self.analysis)]

    def pack(self, out_dir: str | Path, zip: bool = True, progress: Any = None) -> Path:
        """Write the lesson pack into `out_dir` (and `out_dir/lesson.zip`); returns `out_dir`."""
        return write_pack(self.analysis, out_dir, lang=self.lang, picture_name=self.picture_name, zip=zip,
                          progress=progress)

    def _repr_markdown_(self) -> str:
        a = self.analysis
        outputs = ", ".join(f"`{o}` {'×'.join(map(str, a.trace[o].shape[1:]))}" for o in a.outputs)
        return (f"**{NECKS[a.neck_name].title}** on {self.picture_name}: {len(a.topology.nodes)} nodes, "
                f"{a.params:,} parameters, outputs {outputs}")


def analyse_picture(picture: str | Path, neck: str, config: Mapping[str, Any] | None = None, device: str = "cpu",
                    lang: str = "en", seed: int = 0) -> Lab:
    """Decode a picture file, run the backbone and the neck once with tracing, and return a `Lab`.
    Raises ValueError (necklab.lab.imaging.ImageError for pictures) with a message saying what to fix."""
    if not Path(picture).is_file():
        raise ValueError(TEXT["no_file"].format(picture=picture))
    key = resolve_neck(neck)
    settings = neck_config(key, config or {})
    if device not in available_devices():
        raise ValueError(TEXT["bad_device"].format(device=device, choices=", ".join(available_devices())))
    check_language(lang)
    return Lab(analyse(decode(picture), key, settings, device, seed), Path(picture).name, lang)
