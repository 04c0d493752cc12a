# Sourced by scripts/build.sh, scripts/test.sh and scripts/setup.sh: one run at a time in this
# checkout (they share .venv, _build and the CPU). A second run waits for the first; inside a
# run that holds the lock (D2L_LITE_RUN_LOCK is set) nothing more is taken; the Python scripts
# take the same lock (d2l_lite/provenance.py). Without flock(1), no lock.
if [ -z "${D2L_LITE_RUN_LOCK:-}" ] && command -v flock >/dev/null 2>&1; then
  exec 9>.run.lock
  if ! flock -n 9; then
    echo "another build, test or study is using this checkout: waiting for it to finish"
    flock 9
  fi
  D2L_LITE_RUN_LOCK=$$
  export D2L_LITE_RUN_LOCK
fi
