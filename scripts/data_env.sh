# Sourced by scripts/setup.sh and .ci/run, from the repository root: the corpus is read from
# $D2L_LITE_DATA; when that is unset and ../shared/data/fra-eng/fra.txt exists beside the
# checkout, it is that folder. (Otherwise d2l_lite downloads the corpus into a per-user cache
# on first use.) A relative D2L_LITE_DATA is made absolute here, from the repository root, so
# that it means the same folder to the notebooks' kernels, which run in book/.
if [ -z "${D2L_LITE_DATA:-}" ] && [ -f ../shared/data/fra-eng/fra.txt ]; then
  D2L_LITE_DATA="$(cd ../shared/data && pwd)"
  export D2L_LITE_DATA
fi
case "${D2L_LITE_DATA:-}" in
  ""|/*|"~"*) ;;
  *) D2L_LITE_DATA="$PWD/$D2L_LITE_DATA"; export D2L_LITE_DATA ;;
esac
