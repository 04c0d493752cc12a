# Sourced by scripts/test.sh: Debian's chromium and chromium-driver for the browser checks,
# installed when missing. A failure stops the run at once, saying what to do.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "installing Debian's chromium and chromium-driver (for the browser checks)"
  SUDO=$([ "$(id -u)" = 0 ] && echo "" || echo "sudo")
  if ! $SUDO apt-get update -qq || ! $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; then
    echo "test: installing chromium and chromium-driver failed: install them yourself" \
         "(Debian/Ubuntu: apt-get install chromium chromium-driver) and run this again" >&2
    exit 1
  fi
fi
