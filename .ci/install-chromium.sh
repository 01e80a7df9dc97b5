#!/usr/bin/env bash
# Installs a headless browser (Debian's `chromium`) for the browser tests (tests/e2e/test_browser_cors.py: a
# page on another origin calling the API). A no-op when chromium is already there.
set -euo pipefail

if command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; then
    echo "==> Chromium: found"
    exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "==> Chromium is not installed; the browser tests need it (they skip without it, and fail in CI)." >&2
    echo "    Install Debian's package: sudo apt-get install --no-install-recommends chromium" >&2
    exit 0
fi
echo "==> Installing Chromium (Debian's chromium package)"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
command -v chromium >/dev/null || { echo "chromium was installed, but is still not found" >&2; exit 1; }
