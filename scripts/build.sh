#!/usr/bin/env bash
# Set up, execute every chapter (outputs go into book/*.ipynb), and build the HTML book.
#   bash scripts/build.sh              # execute the notebooks, then build
#   bash scripts/build.sh --no-execute # build from the committed outputs
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/lock.sh
# shellcheck disable=SC1091
. scripts/setup.sh
if [ "${1:-}" != "--no-execute" ]; then
  python -m scripts.execute_notebooks
fi
python -m d2l_lite.explorer.prepare  # the attention explorer's models and runtime, into web/explorer
jupyter-book build . -W -n --keep-going
echo
echo "The book is at $(pwd)/_build/html/index.html"
