#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The agent's systemd units: they load without a warning (systemd-analyze
# verify), the service's exposure stays low (systemd-analyze security
# --offline), and the settings authctld(8) relies on are there.
#   check_units.sh SOCKET_UNIT SERVICE_UNIT AUTHCTLD
set -uo pipefail
socket_unit=$1 service_unit=$2 authctld=$3
fail=0
bad() { echo "FAIL - $*"; fail=1; }
ok() { echo "ok - $*"; }

has() { grep -qxF "$2" "$1" || bad "$(basename "$1") lacks '$2'"; }
for line in ListenStream=/run/authctl/agent.sock SocketMode=0600 SocketUser=root DirectoryMode=0755; do
  has "$socket_unit" "$line"
done
for line in Requires=authctld.socket ConditionPathExists=/etc/authctl/fleet.conf NoNewPrivileges=yes \
            ProtectSystem=strict CapabilityBoundingSet= Restart=on-failure; do
  has "$service_unit" "$line"
done
grep -q '^\[Install\]' "$service_unit" && bad "the service has an [Install] section: only the socket is enabled"

if ! command -v systemd-analyze >/dev/null; then
  echo "ok - # SKIP systemd-analyze not installed"
  exit "$fail"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$socket_unit" "$work/authctld.socket"
# The unit names the installed path; verify checks that it is executable.
sed "s#^ExecStart=.*#ExecStart=$authctld#" "$service_unit" > "$work/authctld.service"
out=$(cd "$work" && systemd-analyze verify --man=no ./authctld.socket ./authctld.service 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then ok "systemd-analyze verify: no warnings"; else bad "systemd-analyze verify: $out"; fi
if score=$(cd "$work" && systemd-analyze security --offline=yes ./authctld.service 2>/dev/null | \
           sed -nE 's/.*Overall exposure level for authctld.service: ([0-9.]+).*/\1/p') && [ -n "$score" ]; then
  if awk -v s="$score" 'BEGIN { exit !(s <= 2.5) }'; then ok "exposure $score (at most 2.5)"; else bad "exposure $score (over 2.5)"; fi
fi
exit "$fail"
