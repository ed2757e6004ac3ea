#!/usr/bin/env bash
# Installs a headless browser for the operator console's test
# (test/ui/console.test.ts): Debian's chromium, which the test drives with
# puppeteer-core (an npm dev dependency that downloads no browser of its own).
#
# Idempotent and quick when chromium is already on PATH.
# Exit codes: 0 installed (or already there); 77 cannot install here (no
# apt-get, or not root and no password-less sudo) - the test then skips and
# says why; anything else: the install itself failed.
set -euo pipefail

bash "$(dirname "$0")/apt-install.sh" browser-install "chromium" chromium
