#!/usr/bin/env bash
# Installs a headless browser and its WebDriver (Debian's `chromium` and `chromium-driver`) for the browser tests:
# tests/e2e/test_browser_cors.py (a page on another origin calling the API) and
# tests/e2e/test_playground_browser.py (selenium driving the playground). A no-op when both are there.
set -euo pipefail

have_browser() { command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null; }
have_driver() { command -v chromedriver >/dev/null; }

if have_browser && have_driver; then
    echo "==> Chromium and chromedriver: found"
    exit 0
fi
missing=()
have_browser || missing+=(chromium)
have_driver || missing+=(chromium-driver)
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "==> Not installed: ${missing[*]}; the browser tests need them (they skip without them, and fail in CI)." >&2
    echo "    Install Debian's packages: sudo apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 0
fi
echo "==> Installing ${missing[*]} (Debian's packages)"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
have_browser || { echo "chromium was installed, but is still not found" >&2; exit 1; }
have_driver || { echo "chromium-driver was installed, but chromedriver is still not found" >&2; exit 1; }
