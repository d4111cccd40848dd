#!/usr/bin/env bash
# Create .venv (Python 3.11) with the app's dependencies; with --dev also the test tools, the
# Debian chromium the browser tests drive, the nginx the scale-out test starts and the
# openclipart-png cut-outs the training scenes use. Safe to rerun: pip and apt skip what is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if [ ! -x .venv/bin/python ]; then
  if ! "$PY" -m venv .venv 2>/dev/null; then
    # Debian ships venv separately.
    as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv >/dev/null
    rm -rf .venv && "$PY" -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# The package (editable: the app reads assets/ beside it) with its pinned dependencies (pyproject.toml);
# --dev adds the test and lint tools.
target=.
[ "${1:-}" = "--dev" ] && target=".[dev]"
.venv/bin/python -m pip install -q -e "$target"
# The browser tests drive Debian's chromium; the scale-out test puts Debian's nginx in front; the
# training scenes' tests paste cut-outs from Debian's openclipart-png (public domain, ~130 MB).
if [ "${1:-}" = "--dev" ] && { ! command -v chromium >/dev/null || [ ! -x /usr/sbin/nginx ] \
                               || [ ! -d /usr/share/openclipart/png ]; }; then
  as_root apt-get update -qq && as_root apt-get install -y -qq chromium nginx openclipart-png >/dev/null
fi
# Chinese pages in the browser (tests, screenshots) need a system CJK font; the figures do not:
# they use the font in assets/fonts.
if [ "${1:-}" = "--dev" ] && ! fc-list :lang=zh | grep -q .; then
  as_root apt-get update -qq && as_root apt-get install -y -qq fonts-noto-cjk >/dev/null
fi
