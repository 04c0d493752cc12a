# Sourced by scripts/setup.sh and .ci/run: the corpus is read from $D2L_LITE_DATA; when that is
# unset and ../shared/data/fra-eng/fra.txt exists beside the checkout, it is that folder.
# (Otherwise d2l_lite downloads the corpus into a per-user cache on first use.)
if [ -z "${D2L_LITE_DATA:-}" ] && [ -f ../shared/data/fra-eng/fra.txt ]; then
  D2L_LITE_DATA="$(cd ../shared/data && pwd)"
  export D2L_LITE_DATA
fi
