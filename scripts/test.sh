#!/usr/bin/env bash
# Set up everything the tests need (venv, the package with its dev extra, chromium, nginx, the
# openclipart-png cut-outs), then the gates: lint (ruff), types (mypy; strict on graph, models, lab
# and train) and the tests (pytest, with any arguments given here, e.g. -m "not browser and not slow"
# for the fast subset).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -q "$@"
