#!/usr/bin/env bash
# systemd-analyze (Debian's systemd package) for checking deploy/systemd when
# missing. Exit 77: cannot install here (the check then skips and says why).
set -euo pipefail
bash "$(dirname "$0")/apt-install.sh" systemd-install "systemd-analyze" systemd ""
echo "systemd-install: $(systemd-analyze --version 2>&1 | head -n 1)"
