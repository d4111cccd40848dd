"""NeckLab — run real CNN necks on a picture and see every step. Entry point: `python app.py`.

The app only wires: decoding and models live in `necks/`, figures and tables in `viz/`.
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

# Offline-safe before Gradio is imported: no version check or telemetry, local calls bypass proxies.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")

import gradio as gr  # noqa: E402

from necks.analysis import available_devices, run_backbone  # noqa: E402
from necks.imaging import MAX_SIDE, MIN_SIDE, ImageError, Picture, decode  # noqa: E402
from viz.maps import BACKBONE_TABLE_HEADERS, backbone_table, levels_overview, top_channels  # noqa: E402

ROOT = Path(__file__).resolve().parent
SAMPLES = sorted(p for p in (ROOT / "assets" / "samples").iterdir() if p.suffix.lower() in (".png", ".jpg"))
MAX_UPLOAD = "25mb"
LEVELS = ["C1", "C2", "C3", "C4", "C5"]


def _upload_path(value: Any) -> str:
    """The server-side file of an upload event run without preprocessing (Gradio has already
    checked that it lies in its upload cache)."""
    if value is None:
        raise gr.Error("Choose a picture first: upload one or click a sample below it.")
    if isinstance(value, dict):
        value = value.get("path")
    if not value:
        raise gr.Error("The upload did not arrive; please upload the picture again.")
    return str(value)


def load_picture(value: Any) -> Picture:
    try:
        return decode(_upload_path(value))
    except ImageError as e:
        raise gr.Error(str(e)) from None


def analyze(value: Any, device: str, level: str, progress: gr.Progress = gr.Progress()):
    """Decode the picture, run the backbone, draw every level. Returns the outputs of the Analyze event."""
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
    status = (f"Analysed at {w}×{h} px (uploaded {ow}×{oh}, scale {picture.scale_xy[0]:.3f}) on **{device}** · "
              f"backbone {backbone.seconds * 1000:.0f} ms · {backbone.flops / 1e9:.2f} GFLOPs")
    return (top5, levels_overview(picture, backbone), top_channels(backbone.features[level], level),
            backbone_table(backbone), status, {"picture": picture, "device": device})


def show_level(state: dict | None, level: str):
    if not state:
        raise gr.Error("Analyse a picture first.")
    backbone = run_backbone(state["picture"], state["device"])  # cached: no model run
    return top_channels(backbone.features[level], level)


def build_app() -> gr.Blocks:
    with gr.Blocks(title="NeckLab") as demo:
        gr.Markdown("# NeckLab\nReal CNN necks on your picture, step by step. The backbone is "
                    "EfficientNet-Lite0 with its ImageNet weights.")
        state = gr.State(None)
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                picture = gr.Image(label="Picture", type="filepath", sources=["upload", "clipboard"],
                                   elem_id="picture", height=320)
                gr.Examples([[str(p)] for p in SAMPLES], inputs=[picture], label="Sample pictures (credits: assets/samples/LICENSES.md)")
                device = gr.Dropdown(available_devices(), value="cpu", label="Device", elem_id="device")
                run = gr.Button("Analyze", variant="primary", elem_id="analyze")
                gr.Markdown(f"Pictures are scaled down to at most {MAX_SIDE} px on the longer side; pictures "
                            f"under {MIN_SIDE} px on a side are enlarged (nearest neighbour). Overlays are drawn "
                            "in the uploaded picture's own pixel coordinates.")
            with gr.Column(scale=3):
                status = gr.Markdown("Upload a picture or pick a sample, then press **Analyze**.", elem_id="status")
                top5 = gr.Label(num_top_classes=5, label="Backbone's ImageNet top-5 (picture resized to 224×224)",
                                elem_id="top5")
                with gr.Tabs():
                    with gr.Tab("Backbone", id="backbone"):
                        overview = gr.Plot(label="Mean activation of each level on the picture", format="png",
                                           elem_id="levels", show_label=False)
                        level = gr.Radio(LEVELS, value="C3", label="Level for the channel grid", elem_id="level")
                        channels = gr.Plot(label="Top channels by energy", format="png", elem_id="channels",
                                           show_label=False)
                        table = gr.Dataframe(headers=BACKBONE_TABLE_HEADERS, label="Levels: shapes and theoretical "
                                             "receptive field (RF, px of the analysed picture)", elem_id="shapes",
                                             interactive=False)
        run.click(analyze, [picture, device, level], [top5, overview, channels, table, status, state],
                  api_name="analyze", preprocess=False)
        level.change(show_level, [state, level], [channels], api_name="show_level")
    return demo


def main() -> None:
    parser = argparse.ArgumentParser(description="NeckLab web app")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind; use 0.0.0.0 to serve a class network (default: this machine only)")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    build_app().queue(default_concurrency_limit=2).launch(**launch_settings(args.host, args.port))


def launch_settings(host: str, port: int) -> dict[str, Any]:
    """Offline and safe launch settings (see ../shared/GRADIO6.md)."""
    return dict(server_name=host, server_port=port, share=False, ssr_mode=False, run_history=False,
                enable_monitoring=False, max_file_size=MAX_UPLOAD, show_error=False,
                theme=gr.themes.Soft(), footer_links=["api"])


if __name__ == "__main__":
    main()
