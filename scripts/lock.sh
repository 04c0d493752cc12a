# Sourced by scripts/build.sh and scripts/test.sh: one run at a time in this checkout (they
# share .venv and _build). A second run waits for the first; without flock(1), no lock.
if command -v flock >/dev/null 2>&1; then
  exec 9>.run.lock
  if ! flock -n 9; then
    echo "another build or test run is using this checkout: waiting for it to finish"
    flock 9
  fi
fi
