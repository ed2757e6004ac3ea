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

# Test files run in parallel and may all get here at once: one installs, the
# others wait for it and then find the binaries.
if have flock; then
  exec 9>"${TMPDIR:-/tmp}/raft-ledger-prometheus-install.lock"
  flock 9
  if have prometheus && have promtool; then
    exit 0
  fi
fi

if ! have apt-get; then
  echo "prometheus-install: apt-get not found; install Prometheus >= 2.x (prometheus and promtool on PATH) by hand" >&2
  exit 77
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if have sudo && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "prometheus-install: not root and no password-less sudo; run 'sudo apt-get install prometheus' by hand" >&2
    exit 77
  fi
fi

# Forbid maintainer scripts from starting services during the install (exit
# 101 is "action forbidden" in invoke-rc.d's protocol). Keep a policy that is
# already there; remove only the one we put in place.
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
  "${SUDO[@]}" chmod 755 "$POLICY"
  created_policy=1
fi
cleanup() {
  if [ "$created_policy" = 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# No recommends: they pull prometheus-node-exporter and friends, which we do
# not need to check our rules or to scrape our own nodes.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold prometheus >/dev/null

# Where a service manager runs anyway (policy-rc.d does not stop systemd's
# presets on every distribution), stop and disable the packaged service.
if have systemctl && [ -d /run/systemd/system ]; then
  "${SUDO[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
elif [ -x /etc/init.d/prometheus ]; then
  "${SUDO[@]}" /etc/init.d/prometheus stop >/dev/null 2>&1 || true
fi

if ! have prometheus || ! have promtool; then
  echo "prometheus-install: apt-get succeeded but prometheus/promtool are not on PATH" >&2
  exit 1
fi
echo "prometheus-install: $(prometheus --version 2>&1 | head -n 1)"
