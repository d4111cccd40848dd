"""The Backbone tab and the Analyze action that every tab starts from."""
from __future__ import annotations

from typing import Any

import gradio as gr

from necklab.i18n import t
from necklab.lab.analysis import available_devices, run_backbone
from necklab.viz.maps import backbone_table, backbone_table_headers, levels_overview, top_channels
from necklab.widgets.common import figure_box, image, load_picture, out_of_memory_as_message, session_picture
from necklab.widgets.text import localised

LEVELS = ["C1", "C2", "C3", "C4", "C5"]


def check_level(level: str, lang: str) -> None:
    if level not in LEVELS:
        raise gr.Error(t("backbone.no_level", lang, level=repr(level), levels=", ".join(LEVELS)))


def status_text(session: dict | None, lang: str = "en") -> str:
    """What was analysed and how long it took, in `lang` (the facts stay in the session)."""
    facts = (session or {}).get("facts")
    if not facts:
        return t("app.status_start", lang)
    frames = t("backbone.frames", lang, n=facts["n"]) if facts["n"] > 1 else ""
    return t("backbone.status", lang, frames=frames, **{k: v for k, v in facts.items() if k != "n"})


@out_of_memory_as_message
def analyze(value: Any, device: str, level: str, lang: str = "en", progress: gr.Progress = gr.Progress()):
    """Decode the picture, run the backbone, draw every level; the session remembers the picture."""
    check_level(level, lang)
    progress(0.05, desc=t("backbone.decoding", lang))
    picture = load_picture(value, lang)
    if device not in available_devices():
        raise gr.Error(t("backbone.no_device", lang, device=repr(device), devices=available_devices()))
    progress(0.25, desc=t("backbone.running", lang, device=device))
    backbone = run_backbone(picture, device)
    progress(0.6, desc=t("backbone.drawing", lang))
    top5 = {label: p for _, label, p in backbone.top5}
    (ow, oh), (w, h) = picture.original_size, picture.size
    facts = dict(w=w, h=h, fmt=picture.source_format, ow=ow, oh=oh, scale=f"{picture.scale_xy[0]:.3f}",
                 n=picture.frames, device=device, ms=f"{backbone.seconds * 1000:.0f}",
                 gflops=f"{backbone.flops / 1e9:.2f}")
    session = {"picture": picture, "device": device, "facts": facts}
    return (top5, *backbone_views(session, level, lang), status_text(session, lang), session)


def backbone_views(session: dict, level: str, lang: str = "en") -> tuple:
    """The levels overview, the channel grid of `level` and the levels table (cached: no model run)."""
    picture, device = session_picture(session, lang)
    backbone = run_backbone(picture, device)
    return (image(levels_overview(picture, backbone, lang)),
            image(top_channels(backbone.features[level], level, lang=lang)), backbone_table(backbone))


def show_level(session: dict | None, level: str, lang: str = "en"):
    picture, device = session_picture(session, lang)
    check_level(level, lang)
    backbone = run_backbone(picture, device)  # cached: no model run
    return image(top_channels(backbone.features[level], level, lang=lang))


def redraw(session: dict | None, level: str, lang: str) -> tuple:
    """After a language switch: the tab's figures and the status in the new language."""
    if not session:
        return (gr.skip(),) * 3 + (status_text(None, lang),)
    return (*backbone_views(session, level, lang), status_text(session, lang))


def build_backbone_tab(session: gr.State, language: gr.components.Component | None = None) -> tuple[gr.Radio, list]:
    """Components of the Backbone tab; returns the level selector and the outputs of `analyze`.
    `language` holds the session's language (English without one)."""
    language = language if language is not None else gr.State("en")
    overview = figure_box("backbone.overview", "levels")
    level = localised(gr.Radio, {"label": "backbone.level"}, choices=LEVELS, value="C3", elem_id="level")
    channels = figure_box("backbone.channels", "channels")
    table = localised(gr.Dataframe, {"label": "backbone.table", "headers": backbone_table_headers},
                      elem_id="shapes", interactive=False)
    level.change(show_level, [session, level, language], [channels], api_name="show_level")
    return level, [overview, channels, table]
