#!/usr/bin/env bash
# Set up .venv with everything the book and the tests need. Safe to run again.
# torch is installed first with an exact pin (TORCH_SPEC): the pinned CPU wheel is what this
# project is developed with; requirements.txt then accepts any torch in its range.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
LOG=.venv/setup.log
pip_install() {  # quiet unless it fails; the full output stays in .venv/setup.log
  python -m pip install -q "$@" >>"$LOG" 2>&1 || { cat "$LOG"; echo "setup: pip install $* failed"; exit 1; }
}
: >"$LOG"
pip_install --upgrade pip
if ! python -c "import torch" 2>/dev/null; then
  echo "setup: installing $TORCH_SPEC"
  pip_install "$TORCH_SPEC"
fi
echo "setup: installing requirements.txt and d2l_lite"
pip_install -r requirements.txt -e .
python -c "import torch, d2l_lite, jupyter_book" || { echo "setup failed: see $LOG"; exit 1; }

# The corpus: $D2L_LITE_DATA, else ../shared/data beside the checkout when it exists;
# otherwise d2l_lite downloads it on first use.
if [ -z "${D2L_LITE_DATA:-}" ] && [ -f ../shared/data/fra-eng/fra.txt ]; then
  D2L_LITE_DATA="$(cd ../shared/data && pwd)"
  export D2L_LITE_DATA
fi
echo "setup: done (torch $(python -c 'import torch; print(torch.__version__)'), data: ${D2L_LITE_DATA:-download on first use})"
