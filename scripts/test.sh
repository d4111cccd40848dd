#!/usr/bin/env bash
# Set up everything the tests need (venv, packages, chromium), then run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
exec .venv/bin/python -m pytest -q "$@"
