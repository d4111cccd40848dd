"""Figure packs: a neck lesson's figures (16:9 slides), shapes and lesson plan written to files
(PNG, SVG, CSV, JSON, Markdown, ZIP) — shared by the app's export button, the CLI (`python -m necklab.cli.render`) and
the notebook API (`necklab.api`)."""
