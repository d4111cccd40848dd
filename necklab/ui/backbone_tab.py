"""The Backbone tab and the Analyze action that every tab starts from."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from necklab.i18n import t
from necklab.lab.analysis import available_devices, keep_picture, run_backbone
from necklab.lab.words import top_classes
from necklab.viz.maps import backbone_table, backbone_table_headers, channels_sheet, levels_sheet
from necklab.widgets.common import drawn_file, figure_box, language, load_picture
from necklab.widgets.events import Shows, event, time_limit
from necklab.widgets.session import Facts, Session, session_picture
from necklab.widgets.text import inert, localised

LEVELS = ["C1", "C2", "C3", "C4", "C5"]


@dataclass(frozen=True)
class Levels:
    """The backbone's levels drawn: the overview, the channel grid of the chosen level, the levels
    table, the top-5 classes named in the session's language; and the status line."""

    overview: Any
    channels: Any
    table: Any
    top5: Any
    status: str


@dataclass(frozen=True)
class Analyzed(Levels):
    """What Analyze shows: the levels, and the session that remembers the picture."""

    session: Session


def check_level(level: str, lang: str) -> None:
    if level not in LEVELS:
        raise gr.Error(t("backbone.no_level", lang, level=inert(repr(level)[:40]), levels=", ".join(LEVELS)))


def status_text(session: Session) -> str:
    """What was analysed and how long it took, in the session's language."""
    facts, lang = session.facts, session.lang
    if facts is None:
        return t("app.status_start", lang)
    frames = t("backbone.frames", lang, n=facts.frames) if facts.frames > 1 else ""
    return t("backbone.status", lang, frames=frames, **{k: v for k, v in vars(facts).items() if k != "frames"})


@time_limit(60)
def analyze(session: Session, value: Any, device: str, level: str, lang: str = "en",
            progress: gr.Progress = gr.Progress()) -> Analyzed:
    """Decode the picture, run the backbone, draw every level; the session remembers the picture,
    the device and the language (`lang`: the API's, the page's switch in a browser)."""
    lang = language(lang, session.lang)
    check_level(level, lang)
    progress(0.05, desc=t("backbone.decoding", lang))
    picture = load_picture(value, lang)
    if device not in available_devices():
        raise gr.Error(t("backbone.no_device", lang, device=inert(repr(device)[:40]), devices=available_devices()))
    progress(0.25, desc=t("backbone.running", lang, device=device))
    backbone = run_backbone(picture, device)
    progress(0.6, desc=t("backbone.drawing", lang))
    (ow, oh), (w, h) = picture.original_size, picture.size
    facts = Facts(w=w, h=h, fmt=picture.source_format, ow=ow, oh=oh, scale=f"{picture.scale_xy[0]:.3f}",
                  frames=picture.frames, device=device, ms=f"{backbone.seconds * 1000:.0f}",
                  gflops=f"{backbone.flops / 1e9:.2f}")
    session = replace(session, picture=keep_picture(picture), device=device, lang=lang, facts=facts)
    return Analyzed(**vars(levels(session, level)), session=session)


def levels(session: Session, level: str) -> Levels:
    """The session's picture's levels (cached: no model run) and the status line."""
    picture, device = session_picture(session)
    backbone = run_backbone(picture, device)
    return Levels(overview=drawn_file(("levels", picture.key, device, session.lang),
                                      lambda: levels_sheet(picture, backbone, session.lang).image()),
                  channels=channels_file(session, level),
                  table=backbone_table(backbone), top5=top_classes(backbone.top5, session.lang),
                  status=status_text(session))


def channels_file(session: Session, level: str) -> str:
    """The strongest channels of a level of the session's picture, drawn once per picture and language."""
    picture, device = session_picture(session)
    backbone = run_backbone(picture, device)  # cached: no model run
    return drawn_file(("channels", picture.key, device, level, session.lang),
                      lambda: channels_sheet(backbone.features[level], level, lang=session.lang).image())


def show_level(session: Session, level: str) -> Any:
    check_level(level, session.lang)
    return channels_file(session, level)


def redraw(session: Session, level: str) -> Levels:
    """After a language switch: the tab's figures, the top-5 names and the status in the new language."""
    if session.picture is None:
        return Levels(overview=gr.skip(), channels=gr.skip(), table=gr.skip(), top5=gr.skip(),
                      status=status_text(session))
    return levels(session, level)


def build_backbone_tab(session: gr.State, top5: gr.Label, status: gr.Markdown
                       ) -> tuple[gr.Radio, Shows[Analyzed], Shows[Levels]]:
    """Components of the Backbone tab (`top5` and `status` sit above the tabs); returns the level
    selector and what shows Analyze's view and the levels' redraw."""
    overview = figure_box("backbone.overview", "levels")
    level = localised(gr.Radio, {"label": "backbone.level"}, choices=LEVELS, value="C3", elem_id="level")
    channels = figure_box("backbone.channels", "channels")
    table = localised(gr.Dataframe, {"label": "backbone.table", "headers": backbone_table_headers},
                      elem_id="shapes", interactive=False)
    level.change(event(show_level), [session, level], [channels], api_name="show_level")
    # top5 first: /analyze's outputs keep their order (top-5, overview, channels, table, status)
    shown = dict(top5=top5, overview=overview, channels=channels, table=table, status=status)
    return level, Shows(Analyzed, **shown), Shows(Levels, **shown)
