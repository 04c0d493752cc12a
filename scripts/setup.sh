#!/usr/bin/env bash
# Set up .venv with everything the book and the tests need. Safe to run again: a half-made
# .venv is recreated, and with nothing changed since the last setup no network is needed.
# torch is installed first with an exact pin (TORCH_SPEC): the pinned CPU wheel is what this
# project is developed with; requirements.txt then accepts any torch in its range.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

if [ -e .venv ] && ! { [ -x .venv/bin/python ] && [ -f .venv/bin/activate ] \
                       && .venv/bin/python -c "" 2>/dev/null; }; then
  echo "setup: .venv is incomplete (an interrupted or failed creation): recreating it"
  rm -rf .venv
fi
if [ ! -e .venv ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv || { rm -rf .venv; echo "setup: '$PYTHON -m venv' failed: install" \
    "your Python's venv module (Debian: apt-get install python3-venv) and run this again"; exit 1; }
fi
if [ -n "${SETUP_STOP_AFTER_VENV:-}" ]; then exit 0; fi  # for tests/test_scripts.py
# shellcheck disable=SC1091
. .venv/bin/activate
LOG=.venv/setup.log
STAMP=.venv/requirements.stamp
pip_install() {  # quiet unless it fails; the full output stays in .venv/setup.log
  python -m pip install -q "$@" >>"$LOG" 2>&1 || { cat "$LOG"; echo "setup: pip install $* failed"; exit 1; }
}
wanted="$(cat requirements.txt pyproject.toml; echo "$TORCH_SPEC")"
wanted=$(printf '%s' "$wanted" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ] && python -c "import torch, d2l_lite, jupyter_book" 2>/dev/null; then
  echo "setup: .venv is up to date (requirements unchanged)"
else
  : >"$LOG"
  rm -f "$STAMP"
  pip_install --upgrade pip setuptools
  if ! python -c "import torch" 2>/dev/null; then
    echo "setup: installing $TORCH_SPEC"
    pip_install "$TORCH_SPEC"
  fi
  echo "setup: installing requirements.txt and d2l_lite"
  pip_install -r requirements.txt
  pip_install --no-build-isolation --no-deps -e .
  python -c "import torch, d2l_lite, jupyter_book" || { echo "setup failed: see $LOG"; exit 1; }
  echo "$wanted" >"$STAMP"
fi

# shellcheck disable=SC1091
. scripts/data_env.sh
echo "setup: done (torch $(python -c 'import torch; print(torch.__version__)'), data: ${D2L_LITE_DATA:-download on first use})"
