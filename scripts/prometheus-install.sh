#!/usr/bin/env bash
# Installs Prometheus (and promtool) from Debian's packages when they are
# missing, without leaving a system Prometheus running: our tests and
# `make prometheus-check` start their own prometheus on a free port with our
# config, and a packaged service on :9090 would only get in the way.
#
# Idempotent and quick when both binaries are already on PATH.
# Exit codes: 0 installed (or already there); 77 cannot install here (no
# apt-get, or not root and no password-less sudo) - callers skip and say why;
# anything else: the install itself failed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
if have prometheus && have promtool; then
  exit 0
fi

# No recommends (apt-install.sh): they pull prometheus-node-exporter and
# friends, which we do not need to check our rules or to scrape our own nodes.
bash "$(dirname "$0")/apt-install.sh" prometheus-install "prometheus promtool" prometheus prometheus
echo "prometheus-install: $(prometheus --version 2>&1 | head -n 1)"
