#!/usr/bin/env bash
# Installs what `make bench` compares against and drives load with, from
# Debian's packages when missing: etcd (etcd-server, 3.4 on bookworm; the bench
# starts its own 3-node cluster on loopback, never the packaged service) and
# wrk (a C load generator with Lua scripts, so that the client takes little of
# the two cores the servers share).
#
# Idempotent and quick when etcd and wrk are already on PATH.
# Exit codes as scripts/apt-install.sh: 0 ready; 77 cannot install here (the
# bench then says why and exits non-zero); anything else: the install failed.
set -euo pipefail

bash "$(dirname "$0")/apt-install.sh" bench-install "etcd wrk" "etcd-server wrk" etcd
echo "bench-install: $(etcd --version 2>&1 | head -n 1); $(wrk --version 2>&1 | head -n 1)"
