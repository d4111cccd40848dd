"""Figure packs: a neck lesson's figures, shapes and narration written to files (PNG, SVG, CSV,
JSON, Markdown, ZIP) — shared by the app's export button, the CLI (`python -m necklab.cli.render`) and
the notebook API (`necklab.api`)."""
