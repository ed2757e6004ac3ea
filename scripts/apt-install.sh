#!/usr/bin/env bash
# Installs Debian packages when the commands they provide are missing, without
# leaving a packaged service running (our tests and benches start their own
# processes on free loopback ports; a system service would only get in the way).
#
#   apt-install.sh NAME "cmd1 cmd2 ..." "pkg1 pkg2 ..." "service1 service2 ..."
#
# NAME prefixes messages (e.g. prometheus-install). Idempotent and quick when
# every command is already on PATH.
# Exit codes: 0 installed (or already there); 77 cannot install here (no
# apt-get, or not root and no password-less sudo) - callers skip and say why;
# anything else: the install itself failed.
set -euo pipefail

name=$1
read -r -a commands <<<"$2"
read -r -a packages <<<"$3"
read -r -a services <<<"${4:-}"

have() { command -v "$1" >/dev/null 2>&1; }
all_present() {
  local command
  for command in "${commands[@]}"; do have "$command" || return 1; done
}

if all_present; then
  exit 0
fi

# Test files run in parallel and may all get here at once: one installs, the
# others wait for it and then find the commands. One lock for every caller,
# since two concurrent apt-get runs would fail on dpkg's own lock.
if have flock; then
  exec 9>"${TMPDIR:-/tmp}/raft-ledger-apt-install.lock"
  flock 9
  if all_present; then
    exit 0
  fi
fi

if ! have apt-get; then
  echo "$name: apt-get not found; install ${packages[*]} by hand (${commands[*]} on PATH)" >&2
  exit 77
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if have sudo && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "$name: not root and no password-less sudo; run 'sudo apt-get install ${packages[*]}' by hand" >&2
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
# No recommends: only the commands named above are wanted.
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${packages[@]}" >/dev/null

# Where a service manager runs anyway (policy-rc.d does not stop systemd's
# presets on every distribution), stop and disable the packaged services.
for service in "${services[@]}"; do
  if have systemctl && [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
  elif [ -x "/etc/init.d/$service" ]; then
    "${SUDO[@]}" "/etc/init.d/$service" stop >/dev/null 2>&1 || true
  fi
done

if ! all_present; then
  echo "$name: apt-get succeeded but ${commands[*]} are not all on PATH" >&2
  exit 1
fi
