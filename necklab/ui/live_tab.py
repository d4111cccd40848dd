"""The Live tab: the chosen neck's output maps follow the webcam.

How the stream is served (Gradio 6.31, checked in its source):

- A `.stream` event is one queued event that keeps its worker for the whole run: Gradio's loop
  (queueing.py, `process_events`) runs the handler, sends the result, waits for the next frame, and
  so on until the browser stops or `time_limit` passes. In the app's shared pool of two workers
  (`fair_queue.WORK`) two open cameras would stop every Analyze in the class, so the stream has its
  own concurrency id, LIVE, with a limit of LIVE_CAMERAS = 1: one camera runs at a time in the
  process (a frame wants about a core at 5 frames/s, and a second camera would halve both and slow the
  pool's model runs); another learner's camera waits in that line, never in the pool's, at most
  LIVE_SECONDS (the `time_limit`, so one learner cannot hold the camera slot for the whole lesson).
- Stale frames are dropped, never queued: the browser posts a frame every STREAM_EVERY seconds to
  `/stream/{event_id}`, which *replaces* the event's data (routes.py), and the loop always runs on
  the newest frame; frames that arrive while one is being drawn are overwritten. STREAM_EVERY = 0.1 s
  caps a camera at 10 frames/s; on two cores a frame takes 36–76 ms of compute, and a browser on the
  same machine was shown 6–10 maps/s (Recursive-FPN 4–5; benchmarks/live.py, README).
- The maps go back as a data URL in the event's message (`postprocess=False`): Gradio would
  otherwise write every frame to a temporary file and the browser fetch each one.
"""
from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from necklab.i18n import t
from necklab.lab.live import KINDS, LIVE_SIDE, frame_maps
from necklab.models.registry import NECKS
from necklab.viz.live import live_image
from necklab.widgets.events import Shows, event
from necklab.widgets.session import Session
from necklab.widgets.text import inert, localised

LIVE = "necklab-live"  # the stream's own concurrency id (see the module's docstring)
LIVE_CAMERAS = 1
LIVE_SECONDS = 60
STREAM_EVERY = 0.1
DEFAULT_NECK = "fpn"
JPEG_QUALITY = 90  # ~1 ms to encode (PNG: 6–25 ms); full-resolution colour (no chroma subsampling)


@dataclass(frozen=True)
class LiveShown:
    """A frame drawn: the maps (as the image's value: a data URL) and the timing line."""

    maps: Any
    status: str


def data_url(rgb: np.ndarray) -> dict[str, str]:
    """An RGB image as gr.Image's value without a file: a JPEG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return {"url": "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")}


def live_frame(session: Session, frame: Any, neck: str, kind: str) -> LiveShown | None:
    """One camera frame: the neck's output maps drawn, and how long each part took."""
    if frame is None:
        return None
    lang = session.lang
    if neck not in NECKS:
        raise gr.Error(t("live.unknown_neck", lang, name=inert(repr(neck)[:40]), necks=", ".join(NECKS)))
    if kind not in KINDS:
        raise gr.Error(t("live.unknown_kind", lang, name=inert(repr(kind)[:40]), kinds=", ".join(KINDS)))
    start = time.perf_counter()
    try:
        maps = frame_maps(np.asarray(frame), neck, kind, session.device)
    except ValueError:
        raise gr.Error(t("live.bad_frame", lang, shape=inert(str(np.shape(frame))[:40]))) from None
    shown = data_url(live_image(maps, lang))
    total = time.perf_counter() - start
    w, h = maps.size
    status = t("live.status", lang, w=w, h=h, device=session.device, title=NECKS[neck].title,
               backbone_ms=f"{maps.seconds['backbone'] * 1000:.0f}", neck_ms=f"{maps.seconds['neck'] * 1000:.0f}",
               draw_ms=f"{(total - sum(maps.seconds.values())) * 1000:.0f}", fps=f"{1 / total:.1f}")
    return LiveShown(maps=shown, status=status)


def kind_choices(lang: str) -> list[tuple[str, str]]:
    return [(t(f"live.kind_{kind}", lang), kind) for kind in KINDS]


def build_live_tab(session: gr.State) -> gr.Image:
    """Build the tab's components and wire the stream (call inside a gr.Tab); returns the camera."""
    localised(gr.Markdown, {"value": ("live.intro", dict(side=LIVE_SIDE, seconds=LIVE_SECONDS))})
    with gr.Row():
        neck = localised(gr.Dropdown, {"label": "live.neck"}, choices=[(s.title, s.name) for s in NECKS.values()],
                         value=DEFAULT_NECK if DEFAULT_NECK in NECKS else next(iter(NECKS)), elem_id="live-neck")
        kind = localised(gr.Radio, {"label": "live.kind", "choices": kind_choices}, value=KINDS[0], elem_id="live-kind")
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            # The camera is asked for frames of the analysed size: less to send and decode (Gradio asks
            # for 1920×1440 unless told).
            camera = localised(gr.Image, {"label": "live.camera"}, sources=["webcam"], streaming=True, type="numpy",
                               elem_id="live-camera", height=280,
                               webcam_options=gr.WebcamOptions(constraints={"video": {
                                   "width": {"ideal": LIVE_SIDE}, "height": {"ideal": LIVE_SIDE * 3 // 4}}}))
        with gr.Column(scale=3, min_width=400):
            maps = localised(gr.Image, {"label": "live.maps"}, show_label=False, interactive=False,
                             elem_id="live-maps", buttons=["download", "fullscreen"])
            status = localised(gr.Markdown, {"value": ("live.status_start", dict(seconds=LIVE_SECONDS))},
                               elem_id="live-status")
    shows = Shows(LiveShown, maps=maps, status=status)
    camera.stream(event(live_frame, shows), [session, camera, neck, kind], shows.outputs, api_name="live_frame",
                  api_visibility="private", postprocess=False, show_progress="hidden", stream_every=STREAM_EVERY,
                  time_limit=LIVE_SECONDS, concurrency_id=LIVE, concurrency_limit=LIVE_CAMERAS)
    return camera
