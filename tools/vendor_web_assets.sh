#!/usr/bin/env bash
# Vendor the browser assets of the book, so that widgets and math render with no network.
#
# By default a Jupyter Book page loads RequireJS, the ipywidgets HTML manager and MathJax from
# CDNs. This script fetches pinned npm packages (with `npm pack`, no install, no scripts run) and
# copies what the pages need into DEST (default book/_static):
#
#   DEST/widgets/  require.js, embed-amd.js and the icon fonts embed-amd.js refers to
#   DEST/mathjax/  tex-mml-chtml.js, output/chtml/fonts, input/tex/extensions
#
# _config.yml points at them (nb_ipywidgets_js, mathjax_path, html_static_path).
# Usage: tools/vendor_web_assets.sh [DEST] [--force]
# It does nothing when DEST already holds these exact versions (see DEST/VENDORED); --force
# fetches again. Exit codes: 0 done or up to date, 3 npm missing, 4 npm pack failed.
set -euo pipefail

DEST="book/_static"
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "vendor_web_assets: unknown option '$arg'" >&2; exit 2 ;;
    *) DEST="$arg" ;;
  esac
done

PACKAGES=("@jupyter-widgets/html-manager@1.0.15" "requirejs@2.3.8" "mathjax@3.2.2")
STAMP_TEXT="${PACKAGES[*]}"
STAMP="$DEST/VENDORED"

if [[ $FORCE -eq 0 && -f "$STAMP" && "$(cat "$STAMP")" == "$STAMP_TEXT" \
      && -f "$DEST/widgets/require.js" && -f "$DEST/widgets/embed-amd.js" \
      && -f "$DEST/mathjax/tex-mml-chtml.js" ]]; then
  echo "vendor_web_assets: $DEST is up to date ($STAMP_TEXT)"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  cat >&2 <<EOF
vendor_web_assets: error: npm is not installed, so the book's browser assets cannot be fetched.
  Install Node.js/npm (e.g. 'apt-get install npm'), or copy a vendored book/_static/widgets and
  book/_static/mathjax from another checkout. Needed: ${PACKAGES[*]}
EOF
  exit 3
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if ! (cd "$WORK" && npm pack --silent "${PACKAGES[@]}" >"$WORK/pack.log" 2>&1); then
  echo "vendor_web_assets: error: 'npm pack ${PACKAGES[*]}' failed (is the npm registry" \
       "reachable?):" >&2
  sed 's/^/  /' "$WORK/pack.log" >&2
  exit 4
fi

mkdir -p "$WORK/html-manager" "$WORK/requirejs" "$WORK/mathjax"
tar -xzf "$WORK"/jupyter-widgets-html-manager-1.0.15.tgz -C "$WORK/html-manager"
tar -xzf "$WORK"/requirejs-2.3.8.tgz -C "$WORK/requirejs"
tar -xzf "$WORK"/mathjax-3.2.2.tgz -C "$WORK/mathjax"

# Stage everything, then swap it into place, so an interrupted run leaves no half copy.
OUT="$WORK/out"
mkdir -p "$OUT/widgets" "$OUT/mathjax/output/chtml" "$OUT/mathjax/input/tex"
cp "$WORK/requirejs/package/require.js" "$OUT/widgets/"
cp "$WORK/html-manager/package/dist/embed-amd.js" "$OUT/widgets/"
# The icon fonts (Font Awesome) that embed-amd.js's CSS refers to; browsers take woff2/woff,
# so the eot/ttf/svg fallbacks (2.4 MB) are left out.
for font in "$WORK"/html-manager/package/dist/*.{woff,woff2}; do
  cp "$font" "$OUT/widgets/"
done
MJ="$WORK/mathjax/package/es5"
cp "$MJ/tex-mml-chtml.js" "$OUT/mathjax/"
cp -r "$MJ/output/chtml/fonts" "$OUT/mathjax/output/chtml/"
cp -r "$MJ/input/tex/extensions" "$OUT/mathjax/input/tex/"
cp "$WORK/mathjax/package/LICENSE" "$OUT/mathjax/LICENSE"

mkdir -p "$DEST"
rm -rf "$DEST/widgets" "$DEST/mathjax"
mv "$OUT/widgets" "$DEST/widgets"
mv "$OUT/mathjax" "$DEST/mathjax"
echo "$STAMP_TEXT" >"$STAMP"
echo "vendor_web_assets: $DEST/widgets and $DEST/mathjax ($(du -sh "$DEST" | cut -f1)," \
     "$STAMP_TEXT)"
