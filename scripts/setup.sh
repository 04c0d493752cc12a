#!/usr/bin/env bash
# Set up .venv with exactly what requirements.lock says (every file's hash checked), torch from
# its pin (requirements-torch.txt, or $TORCH_SPEC to try another), and d2l_lite; then Node's
# packages from package-lock.json (scripts/install_node.sh). Safe to run again: a .venv that cannot run Python or pip is recreated; a torch that does not satisfy the
# spec is replaced; with nothing changed since the last setup no network is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/lock.sh
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-$(grep -v '^#' requirements-torch.txt | sed '/^[[:space:]]*$/d')}

venv_works() {
  [ -x .venv/bin/python ] && [ -f .venv/bin/activate ] \
    && .venv/bin/python -m pip --version >/dev/null 2>&1
}
if [ -e .venv ] && ! venv_works; then
  echo "setup: .venv is broken (no working Python or pip, as an interrupted creation or pip" \
       "upgrade leaves it): recreating it"
  rm -rf .venv
fi
if [ ! -e .venv ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv || { rm -rf .venv; echo "setup: '$PYTHON -m venv' failed: install" \
    "your Python's venv module (Debian: apt-get install python3-venv) and run this again"; exit 1; }
fi
if [ "${SETUP_STOP_AFTER:-}" = venv ]; then exit 0; fi  # for tests/test_scripts.py
# shellcheck disable=SC1091
. .venv/bin/activate
LOG=.venv/setup.log
STAMP=.venv/requirements.stamp
pip_install() {  # quiet unless it fails; the full output stays in .venv/setup.log
  python -m pip install -q "$@" >>"$LOG" 2>&1 || { cat "$LOG"; echo "setup: pip install $* failed"; exit 1; }
}
torch_satisfies_spec() {  # the installed torch's version is one that $TORCH_SPEC accepts
  python - "$TORCH_SPEC" 2>/dev/null <<'EOF'
import importlib.metadata, sys
from packaging.requirements import Requirement
spec = Requirement(sys.argv[1])
sys.exit(not spec.specifier.contains(importlib.metadata.version(spec.name), prereleases=True))
EOF
}
install_torch() {
  if ! torch_satisfies_spec; then
    echo "setup: installing $TORCH_SPEC"
    pip_install "$TORCH_SPEC"
  fi
}

wanted="$(cat requirements.lock pyproject.toml; echo "$TORCH_SPEC"; python --version)"
wanted=$(printf '%s' "$wanted" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" = "$wanted" ] && torch_satisfies_spec \
    && python -c "import torch, d2l_lite, jupyter_book" 2>/dev/null; then
  echo "setup: .venv is up to date (requirements.lock and the torch spec unchanged)"
else
  : >"$LOG"
  rm -f "$STAMP"
  echo "setup: installing requirements.lock"
  pip_install --require-hashes --no-deps -r requirements.lock
  install_torch  # its dependencies are in the lock: for the pinned torch nothing else comes
  if [ "${SETUP_STOP_AFTER:-}" = torch ]; then exit 0; fi  # for tests/test_scripts.py
  python -m pip check >>"$LOG" 2>&1 || { tail -n 20 "$LOG"; echo "setup: the installed" \
    "packages do not fit together (above); with another TORCH_SPEC, refresh the lock:" \
    "python scripts/update_lock.py"; exit 1; }
  echo "setup: installing d2l_lite"
  pip_install --no-build-isolation --no-deps -e .
  python -c "import torch, d2l_lite, jupyter_book" || { echo "setup failed: see $LOG"; exit 1; }
  echo "$wanted" >"$STAMP"
fi

# shellcheck disable=SC1091
. scripts/install_node.sh
# shellcheck disable=SC1091
. scripts/data_env.sh
echo "setup: done (torch $(python -c 'import torch; print(torch.__version__)'), data: ${D2L_LITE_DATA:-download on first use})"
