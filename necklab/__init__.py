"""NeckLab: real CNN necks on a picture, every step visible.

Layers, lowest first — a module imports only from its own layer or the ones below it (a test says so):
graph → models → i18n → lab → train → viz → widgets → lessons → pack → api → ui → cli.
"""
import os
from pathlib import Path

# Offline-safe before Gradio is imported anywhere: no version check or telemetry, local calls
# bypass proxies, and huggingface_hub (under Gradio) does not look up its hub.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("NO_PROXY", "localhost,127.0.0.1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ASSETS = Path(__file__).resolve().parent.parent / "assets"  # samples, words, fonts, labels, weights
