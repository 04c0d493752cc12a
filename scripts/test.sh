#!/usr/bin/env bash
# Set up and run the whole test suite: lint, unit tests, notebook pairs, nbval on every
# notebook, the book build, and the rendered pages in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stage() { echo; echo "== $1 ($((SECONDS - start)) s)"; }

stage "setup"
# shellcheck disable=SC1091
. scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing Debian's chromium and chromium-driver"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo")
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

stage "lint (ruff)"
ruff check .

stage "unit tests and notebook pairs"
python -m pytest tests -q -p no:cacheprovider

stage "nbval: every notebook re-executed and compared, one at a time"
python -m pytest --nbval --nbval-current-env book/*.ipynb \
  --nbval-sanitize-with tests/nbval_sanitize.cfg \
  --nbval-cell-timeout=1200 -q -p no:cacheprovider

stage "book build (warnings are errors)"
rm -rf _build/html
jupyter-book build . -W -n --keep-going

stage "rendered pages in headless Chromium (screenshots in _build/screenshots)"
python -m pytest tests/browser/check_pages.py -q -p no:cacheprovider
