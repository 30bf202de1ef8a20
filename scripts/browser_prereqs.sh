#!/usr/bin/env bash
# What `make test` needs for the report's browser test (tests/e2e/test_report_browser.py):
# Debian's chromium, installed with the same script CI uses (scripts/install_chromium.sh) when
# this machine can: apt-get is present and we are root. Progress goes to stderr; when the browser
# test will be skipped, the reason is the only thing printed on stdout (make prints it again
# after the test summary, so a newcomer sees why one test was skipped).
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
how="run 'sudo ./scripts/install_chromium.sh' once, then 'make test' again"
if ! command -v apt-get >/dev/null 2>&1; then
    echo "browser test SKIPPED: chromium is not installed and this machine has no apt-get (install chromium yourself; the test looks for /usr/bin/chromium or chromium on PATH)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "browser test SKIPPED: chromium is not installed and make is not running as root, so it was not installed automatically; $how"
    exit 0
fi
echo "installing chromium for the browser test (scripts/install_chromium.sh) ..." >&2
if ! ./scripts/install_chromium.sh >&2; then
    echo "browser test SKIPPED: scripts/install_chromium.sh failed (see its output above: is the Debian mirror reachable?); $how"
fi
exit 0
