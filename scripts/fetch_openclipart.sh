#!/usr/bin/env bash
# Fetch Debian's openclipart-svg package (public-domain clipart) into .cache/openclipart.
# Used by the corpus tests and .ci/run; needs only the Debian package registry.
set -euo pipefail
dest="${1:-$(dirname "$0")/../.cache/openclipart}"
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -d "$dest/usr/share/openclipart/svg/people" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 777 "$tmp"
(cd "$tmp" && apt-get download openclipart-svg >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get download openclipart-svg >/dev/null; })
dpkg -x "$tmp"/openclipart-svg_*.deb "$dest"
echo "openclipart corpus at $dest/usr/share/openclipart/svg"
