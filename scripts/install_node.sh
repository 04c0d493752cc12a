# Sourced by scripts/setup.sh: Node.js and npm (Debian's), installed when missing, then the
# attention explorer's browser runtime from package-lock.json (npm ci, each file checked against
# the lock's integrity hash; --ignore-scripts: no package's install script runs, since only
# their dist files are used). A failure stops the run at once, saying what to do.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing Debian's nodejs and npm (for the attention explorer)"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo")
  if ! $SUDO apt-get update -qq || ! $SUDO apt-get install -y -qq nodejs npm >/dev/null; then
    echo "setup: installing nodejs and npm failed: install them yourself (Debian/Ubuntu:" \
         "apt-get install nodejs npm) and run this again" >&2
    exit 1
  fi
fi
npm_stamp=node_modules/.package-lock.stamp
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$(sha256sum package-lock.json | cut -d' ' -f1)" ]; then
  echo "setup: installing package-lock.json (npm ci)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >>"${LOG:-/dev/null}" 2>&1 || {
    echo "setup: npm ci failed: see ${LOG:-its output}" >&2; exit 1; }
  sha256sum package-lock.json | cut -d' ' -f1 >"$npm_stamp"
fi
