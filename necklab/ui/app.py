"""The app: the Blocks that assemble the tabs, and how it is launched (offline and safe).

`python app.py` and the `necklab` command both end in `main()` here.
"""
from __future__ import annotations

import argparse
import gc
import hmac
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from necklab import ASSETS
from necklab.i18n import from_accept_language, t
from necklab.lab.analysis import available_devices
from necklab.lab.cache import start_sweeper
from necklab.lab.imaging import MAX_SIDE, MIN_SIDE
from necklab.models.registry import NECKS, NeckSpec
from necklab.models.weights import CHOICES, FRESH, TRAINED
from necklab.ui.backbone_tab import analyze, build_backbone_tab
from necklab.ui.backbone_tab import redraw as redraw_backbone
from necklab.ui.compare_tab import build_compare_tab
from necklab.ui.fair_queue import serve_fairly
from necklab.ui.headers import SecurityHeaders
from necklab.ui.lifetimes import forget_closed_sessions
from necklab.ui.limits import MAX_FILE_MB, BodyLimit
from necklab.ui.live_tab import build_live_tab
from necklab.ui.neck_tab import NeckTab, build_neck_tab, slug
from necklab.ui.offline import forbid_outbound
from necklab.ui.playground_tab import build_playground_tab
from necklab.widgets.common import language
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session, SessionBox
from necklab.widgets.text import Words, follow, localised

SAMPLES = sorted(p for p in (ASSETS / "samples").iterdir() if p.suffix.lower() in (".png", ".jpg"))
# Uploads, drawn steps and exports are Gradio temp files: every 10 minutes those older than 2 hours go
# (a lesson's length: an idle learner's picture is still there when they come back to it).
DELETE_CACHE = (600, 7200)
# Legible on a projector (1280×720): the node table's every column in view (a tighter table, its
# cells wrapping), and the step's figures centred in their boxes.
CSS = """
.node-table table { font-size: 0.85rem; }
.node-table th, .node-table td { padding: 4px 6px !important; }
"""


def tab_groups() -> dict[str, list[NeckSpec]]:
    """Registry necks grouped by tab, in registry order."""
    groups: dict[str, list[NeckSpec]] = {}
    for spec in NECKS.values():
        groups.setdefault(spec.tab_title, []).append(spec)
    return groups


@dataclass(frozen=True)
class Switched:
    """A language switch: the session in that language, and every localised component's words."""

    words: list[dict]
    session: Session


def switch_language(session: Session, lang: str, words: Words) -> Switched:
    lang = language(lang, session.lang)
    return Switched(words=words.updates(lang), session=replace(session, lang=lang))


def weight_choices(lang: str) -> list[tuple[str, str]]:
    return [(t("app.weights_trained", lang), TRAINED), (t("app.weights_fresh", lang), FRESH)]


def choose_weights(session: Session, weights: str) -> Session:
    """The weights the necks run with, for this session (an API client's unknown value: trained)."""
    return replace(session, weights=weights if weights in CHOICES else TRAINED)


def show_tab(session: Session, key: str) -> Session:
    return replace(session, tab=key)


def build_app() -> gr.Blocks:
    with gr.Blocks(title="NeckLab", delete_cache=DELETE_CACHE) as demo, Words() as words:
        with gr.Row(equal_height=True):
            localised(gr.Markdown, {"value": "app.title"})
            # The session's language: the browser's on load (Accept-Language), then this switch.
            language = localised(gr.Radio, {"label": "app.language"}, choices=[("EN", "en"), ("中文", "zh")],
                                 value="en", elem_id="language", scale=0, min_width=160)
        session = gr.State(SessionBox())  # this browser's Session: every handler's first input
        with gr.Row():
            with gr.Column(scale=2, min_width=280):
                picture = localised(gr.Image, {"label": "app.picture"}, type="filepath",
                                    sources=["upload", "clipboard"], elem_id="picture", height=260)
            with gr.Column(scale=3, min_width=300):
                samples = gr.Examples([[str(p)] for p in SAMPLES], inputs=[picture], examples_per_page=len(SAMPLES),
                                      label=t("app.samples", "en"))
                follow(samples.dataset, {"label": "app.samples"})
                with gr.Row():
                    device = localised(gr.Dropdown, {"label": "app.device"}, choices=available_devices(), value="cpu",
                                       elem_id="device")
                    weights = localised(gr.Radio, {"label": "app.weights", "choices": weight_choices}, value=TRAINED,
                                        elem_id="weights")
                    run = localised(gr.Button, {"value": "app.analyze"}, variant="primary", elem_id="analyze")
                localised(gr.Markdown, {"value": ("app.size_policy", dict(max_side=MAX_SIDE, min_side=MIN_SIDE))})
            with gr.Column(scale=3, min_width=300):
                top5 = localised(gr.Label, {"label": "app.top5"}, num_top_classes=5, elem_id="top5",
                                 show_heading=False)  # the list names the top class first
        status = localised(gr.Markdown, {"value": "app.status_start"}, elem_id="status")

        def shown(tab: gr.Tab, key: str) -> Any:
            """The tab on screen goes into the session."""
            return tab.select(event(partial(show_tab, key=key)), [session], None, api_visibility="private")

        neck_tabs: list[NeckTab] = []
        with gr.Tabs():
            with localised(gr.Tab, {"label": "app.tab_backbone"}, id="backbone") as backbone_tab:
                level, analyzed_shows, levels_shows = build_backbone_tab(session, top5, status)
            shown(backbone_tab, "backbone")
            for title, specs in tab_groups().items():
                with gr.Tab(title, id=slug(title)) as tab:
                    neck_tab = build_neck_tab(title, specs, session)
                neck_tab.finish()
                neck_tab.show_after(shown(tab, neck_tab.key))
                neck_tabs.append(neck_tab)
            with localised(gr.Tab, {"label": "app.tab_compare"}, id="compare") as compare_tab:
                build_compare_tab(session)
            shown(compare_tab, "compare")
            with localised(gr.Tab, {"label": "app.tab_playground"}, id="playground") as playground_tab:
                playground_words = build_playground_tab(session)
            shown(playground_tab, "playground")
            with localised(gr.Tab, {"label": "live.tab"}, id="live") as live_tab:
                build_live_tab(session)
            shown(live_tab, "live")
        # The API's /analyze takes (picture, device, level, language): the session is no API input.
        analyzed = run.click(event(analyze, analyzed_shows), [session, picture, device, level, language],
                             analyzed_shows.outputs, api_name="analyze", preprocess=False)
        for neck_tab in neck_tabs:  # the tab on screen follows the new picture
            analyzed = neck_tab.show_after(analyzed)
        # The necks' weights, for every tab: the tab on screen runs again with them.
        reweighted = weights.change(event(choose_weights), [session, weights], None, api_name="weights")
        for neck_tab in neck_tabs:
            reweighted = neck_tab.show_after(reweighted)
        demo.load(browser_language, None, language, api_visibility="private")
        relabelled = Shows(Switched, words=words.components)
        switched = language.change(event(partial(switch_language, words=words), relabelled), [session, language],
                                   relabelled.outputs, api_visibility="private")
        switched = switched.then(event(redraw_backbone, levels_shows), [session, level], levels_shows.outputs,
                                 api_visibility="private").then(*playground_words, api_visibility="private")
        for neck_tab in neck_tabs:
            switched = neck_tab.relabel_after(switched)
    forget_closed_sessions(demo)
    return demo


def browser_language(request: gr.Request) -> str:
    """The page's language on load: the first of the browser's languages the app speaks."""
    return from_accept_language(request.headers.get("accept-language"))


def server_address(argv: Sequence[str] | None = None, environ: Mapping[str, str] = os.environ) -> argparse.Namespace:
    """The address to serve on (`host`, `port`): the command line's flags, else Gradio's own
    GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (what a container or service file sets), else this
    machine only, port 7860. A bad port (flag or variable) stops with argparse's message."""
    parser = argparse.ArgumentParser(prog="necklab", description="NeckLab web app")
    parser.add_argument("--host", default=environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to bind; use 0.0.0.0 to serve a class network (default: $GRADIO_SERVER_NAME, "
                             "else 127.0.0.1: this machine only)")
    # argparse converts a string default with `type`, so a bad GRADIO_SERVER_PORT is reported as a bad port
    parser.add_argument("--port", type=int, default=environ.get("GRADIO_SERVER_PORT", "7860"),
                        help="port (default: $GRADIO_SERVER_PORT, else 7860)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = server_address(argv)
    forbid_outbound(also=[args.host])
    # A class password comes from the environment, never a flag (flags show in `ps`).
    password = os.environ.get("NECKLAB_PASSWORD") or None
    start_sweeper()  # what closed sessions used goes back to the system within minutes
    demo = serve_fairly(build_app())
    # The app's ~560k objects (its components, Gradio, the libraries) live as long as the process:
    # frozen, the collector no longer walks them each time matplotlib's garbage triggers a full
    # collection (then ~12 % of drawing a figure).
    gc.collect()
    gc.freeze()
    demo.launch(**launch_settings(args.host, args.port, password))


def class_login(password: str) -> Callable[[str, str], bool]:
    """Gradio's login check for a class server: any name, the class's password."""
    expected = password.encode()
    return lambda _name, typed: hmac.compare_digest(typed.encode(), expected)


def launch_settings(host: str, port: int, password: str | None = None) -> dict[str, Any]:
    """Offline and safe launch settings (see ../shared/GRADIO6.md); `app_kwargs` reach Gradio's
    FastAPI app, whose every response then carries the security headers. With `password`, the app
    asks for it first (Gradio's login page; the name is free, e.g. the student's)."""
    return dict(server_name=host, server_port=port, share=False, ssr_mode=False, run_history=False,
                enable_monitoring=False, max_file_size=f"{MAX_FILE_MB}mb", show_error=False,
                theme=gr.themes.Soft(), css=CSS, footer_links=["api"],
                auth=class_login(password) if password else None,
                app_kwargs={"middleware": [Middleware(SecurityHeaders), Middleware(BodyLimit)]})
