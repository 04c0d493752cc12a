#!/usr/bin/env bash
# Set up and run the whole test suite: lint, unit tests, notebook pairs and provenance, nbval
# on every notebook, the Colab path, the book build, and the rendered pages in headless
# Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/lock.sh
start=$SECONDS
stage() { echo; echo "== $1 ($((SECONDS - start)) s)"; }

stage "setup"
# shellcheck disable=SC1091
. scripts/setup.sh
# shellcheck disable=SC1091
. scripts/install_chromium.sh

stage "lint (ruff)"
ruff check .

stage "unit tests, notebook pairs and provenance"
python -m pytest tests -q -p no:cacheprovider -m "not colab and not slow"

stage "slow tests: the studies' and the benchmark's smoke runs, full training, setup runs"
python -m pytest tests -q -p no:cacheprovider -m "slow and not colab"

stage "nbval: every notebook re-executed and compared, one at a time"
python -m pytest --nbval --nbval-current-env book/*.ipynb \
  --nbval-sanitize-with tests/nbval_sanitize.cfg \
  --nbval-cell-timeout=1200 -q -p no:cacheprovider

stage "the Colab path: each chapter where a Colab reader runs it, up to its first training cell"
python -m pytest tests/test_colab.py -q -p no:cacheprovider -m colab

stage "book build (warnings are errors), with the attention explorer's models exported"
rm -rf _build/html
python -m d2l_lite.explorer.prepare
jupyter-book build . -W -n --keep-going

stage "rendered pages in headless Chromium (screenshots in _build/screenshots)"
python -m pytest tests/browser/check_pages.py tests/browser/check_explorer.py -q -p no:cacheprovider
stage "done"
