#!/usr/bin/env bash
# Installs what the Jepsen-style suite's clock nemesis needs: libfaketime from
# Debian's faketime package (the runner preloads the library into each ledgerd
# it starts). Partitions need nothing (a TCP proxy in the runner), kills and
# pauses need nothing, the disk nemesis needs root (to mount a tmpfs) and no
# package.
#
# Idempotent and quick when faketime is already installed.
# Exit codes: 0 installed (or already there); 77 cannot install here (no
# apt-get, or not root and no password-less sudo) - the runner then skips the
# clock nemesis and says why; anything else: the install itself failed.
set -euo pipefail

bash "$(dirname "$0")/apt-install.sh" jepsen-install "faketime" faketime
