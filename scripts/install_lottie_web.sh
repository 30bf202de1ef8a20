#!/usr/bin/env bash
# Fetch lottie-web (MIT) from the npm registry into a cache folder for the Lottie browser test
# (tests/e2e/test_lottie_browser.py) and the HTML report, which load it from a local file (no CDN).
# Usage: scripts/install_lottie_web.sh [DEST]   (default: .cache/lottie-web)
# Idempotent: does nothing when DEST/lottie.min.js is already there. Needs npm and the registry.
set -euo pipefail

VERSION="5.13.0"
DEST="${1:-$(dirname "$0")/../.cache/lottie-web}"
if [ -f "$DEST/lottie.min.js" ]; then
    exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "install_lottie_web.sh: npm is not installed" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "lottie-web@$VERSION" >/dev/null && tar xzf "lottie-web-$VERSION.tgz")
mkdir -p "$DEST"
cp "$WORK/package/LICENSE.md" "$DEST/" 2>/dev/null || true
# Copy then rename: two test workers may install at once, and a reader never sees half a file.
cp "$WORK/package/build/player/lottie.min.js" "$DEST/.lottie.min.js.$$"
mv -f "$DEST/.lottie.min.js.$$" "$DEST/lottie.min.js"
echo "$VERSION" > "$DEST/VERSION"
echo "lottie-web $VERSION installed in $DEST"
