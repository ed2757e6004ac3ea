#!/usr/bin/env bash
# Installs what the Jepsen-style suite needs from Debian's packages:
# - faketime (libfaketime) for the clock nemesis (the runner preloads the
#   library into each ledgerd it starts);
# - iproute2 (ip), iptables (iptables-restore) and util-linux (nsenter) for
#   `--net netns`: a network namespace per node, partitions as iptables DROP
#   rules (needs root on Linux).
# The default partitions (`--net proxy`, a TCP proxy in the runner), kills and
# pauses need nothing; the disk nemesis needs root (to mount a tmpfs) and no
# package.
#
# Idempotent and quick when every command is already there.
# Exit codes: 0 installed (or already there); 77 cannot install here (no
# apt-get, or not root and no password-less sudo) - the runner then skips the
# clock nemesis and refuses --net netns, saying why; anything else: the
# install itself failed.
set -euo pipefail

bash "$(dirname "$0")/apt-install.sh" jepsen-install "faketime ip iptables-restore nsenter" "faketime iproute2 iptables util-linux"
