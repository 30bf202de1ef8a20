#!/usr/bin/env bash
# Install Debian's chromium for the report's browser test (tests/e2e/test_report_browser.py).
# The test drives it over the DevTools protocol (the `websockets` package), so no chromedriver
# or selenium download is needed. Idempotent: does nothing when chromium is already there.
# Needs root (or sudo) and the distribution's package mirror; nothing else is fetched.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "chromium already installed: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install_chromium.sh: need root or sudo to apt-get install chromium" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# --no-install-recommends keeps it to the browser itself (no fonts/extensions beyond its deps).
$SUDO apt-get install -y -q --no-install-recommends chromium
/usr/bin/chromium --version
