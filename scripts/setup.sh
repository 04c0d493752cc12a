#!/usr/bin/env bash
# Set up .venv with exactly what requirements.lock says (every file's hash checked), torch from
# its pin (requirements-torch.txt, by hash too; or $TORCH_SPEC to try another, unchecked), and
# d2l_lite; then Node's packages from package-lock.json (scripts/install_node.sh). Safe to run
# again: a .venv without pip gets pip (ensurepip); one that still cannot run Python or pip is
# moved aside (never deleted) and made anew; a torch that does not satisfy the spec is
# replaced; with nothing changed since the last setup no network is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. scripts/lock.sh
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-}  # empty: the pin of requirements-torch.txt, by hash

venv_python_works() {
  [ -x .venv/bin/python ] && [ -f .venv/bin/activate ] && [ -f .venv/pyvenv.cfg ] \
    && .venv/bin/python -c '' 2>/dev/null
}
venv_pip_works() { .venv/bin/python -m pip --version >/dev/null 2>&1; }
if [ -e .venv ] && venv_python_works && ! venv_pip_works; then
  echo "setup: .venv has no working pip (as 'uv venv' or an interrupted pip upgrade leaves" \
       "it): installing pip into it (python -m ensurepip)"
  .venv/bin/python -m ensurepip --upgrade >/dev/null 2>&1 || true
fi
if [ -e .venv ] && ! { venv_python_works && venv_pip_works; }; then
  aside=".venv.broken-$(date +%Y%m%d-%H%M%S)"
  mv .venv "$aside"
  echo "setup: .venv is broken (no working Python or pip, as an interrupted creation leaves" \
       "it): moved it to $aside, with whatever it held (delete it once nothing there is" \
       "needed), and making a new .venv"
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
if [ -n "$TORCH_SPEC" ]; then TORCH_BY_HASH=; else
  TORCH_BY_HASH=1
  TORCH_SPEC=$(python scripts/pins.py) || { echo "setup: requirements-torch.txt could not be" \
    "read (above): it must hold one torch pin, with --hash=sha256: options"; exit 1; }
fi
torch_satisfies_spec() {  # the installed torch's version is one that $TORCH_SPEC accepts
  python - "$TORCH_SPEC" 2>/dev/null <<'EOF'
import importlib.metadata, sys
from packaging.requirements import Requirement
spec = Requirement(sys.argv[1])
sys.exit(not spec.specifier.contains(importlib.metadata.version(spec.name), prereleases=True))
EOF
}
install_torch() {
  if torch_satisfies_spec; then return; fi
  if [ -z "$TORCH_BY_HASH" ]; then
    echo "setup: installing $TORCH_SPEC (TORCH_SPEC), without checking its hash"
    pip_install "$TORCH_SPEC"
    return
  fi
  echo "setup: installing $TORCH_SPEC (by hash: a file that requirements-torch.txt lists)"
  if python -m pip install -q --require-hashes --no-deps -r requirements-torch.txt \
      >>"$LOG" 2>&1; then return; fi
  tail -n 30 "$LOG"
  if grep -q "DO NOT MATCH THE HASHES\|No matching distribution" "$LOG"; then
    echo "setup: pip found no file of $TORCH_SPEC for this machine and $(python --version)" \
      "whose sha256 requirements-torch.txt lists (pip's output above). That file accepts" \
      "only CPU builds (PyPI's Linux wheels are CUDA builds, which would bring gigabytes of" \
      "packages the lock does not hold). Get the CPU build:" \
      "PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu bash scripts/setup.sh, and" \
      "if its hash is not listed, add it (pip hash <the wheel>) to requirements-torch.txt;" \
      "or set TORCH_SPEC (such as TORCH_SPEC=$TORCH_SPEC) to install a torch without" \
      "checking its hash"
  else
    echo "setup: pip install --require-hashes --no-deps -r requirements-torch.txt failed" \
      "(above; the whole output is in $LOG)"
  fi
  exit 1
}

wanted="$(cat requirements.lock pyproject.toml requirements-torch.txt; echo "$TORCH_SPEC"
          python --version)"
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
    "python -m scripts.update_lock"; exit 1; }
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
