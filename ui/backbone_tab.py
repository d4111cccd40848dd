"""The Backbone tab and the Analyze action that every tab starts from."""
from __future__ import annotations

from typing import Any

import gradio as gr

from necks.analysis import available_devices, run_backbone
from viz.maps import BACKBONE_TABLE_HEADERS, backbone_table, levels_overview, top_channels

from .common import figure_box, image, load_picture, out_of_memory_as_message, session_picture

LEVELS = ["C1", "C2", "C3", "C4", "C5"]


@out_of_memory_as_message
def analyze(value: Any, device: str, level: str, progress: gr.Progress = gr.Progress()):
    """Decode the picture, run the backbone, draw every level; the session remembers the picture."""
    if level not in LEVELS:
        raise gr.Error(f"Level {level!r} does not exist; choose one of {', '.join(LEVELS)}.")
    progress(0.05, desc="Decoding the picture")
    picture = load_picture(value)
    if device not in available_devices():
        raise gr.Error(f"Device {device!r} is not available here; choose one of {available_devices()}.")
    progress(0.25, desc=f"Running EfficientNet-Lite0 on {device}")
    backbone = run_backbone(picture, device)
    progress(0.6, desc="Drawing the levels")
    top5 = {label: p for _, label, p in backbone.top5}
    ow, oh = picture.original_size
    w, h = picture.size
    status = (f"Analysed at {w}×{h} px (uploaded {picture.source_format} {ow}×{oh}, scale {picture.scale_xy[0]:.3f}"
              f"{f', first of {picture.frames} frames' if picture.frames > 1 else ''}) on **{device}** · "
              f"backbone {backbone.seconds * 1000:.0f} ms · {backbone.flops / 1e9:.2f} GFLOPs")
    return (top5, image(levels_overview(picture, backbone)), image(top_channels(backbone.features[level], level)),
            backbone_table(backbone), status, {"picture": picture, "device": device})


def show_level(session: dict | None, level: str):
    picture, device = session_picture(session)
    if level not in LEVELS:
        raise gr.Error(f"Level {level!r} does not exist; choose one of {', '.join(LEVELS)}.")
    backbone = run_backbone(picture, device)  # cached: no model run
    return image(top_channels(backbone.features[level], level))


def build_backbone_tab(session: gr.State) -> tuple[gr.Radio, list]:
    """Components of the Backbone tab; returns the level selector and the outputs of `analyze`."""
    overview = figure_box("Mean activation of each level on the picture", "levels")
    level = gr.Radio(LEVELS, value="C3", label="Level for the channel grid", elem_id="level")
    channels = figure_box("Top channels by energy", "channels")
    table = gr.Dataframe(headers=BACKBONE_TABLE_HEADERS, label="Levels: shapes and theoretical receptive field "
                         "(RF, px of the analysed picture)", elem_id="shapes", interactive=False)
    level.change(show_level, [session, level], [channels], api_name="show_level")
    return level, [overview, channels, table]
