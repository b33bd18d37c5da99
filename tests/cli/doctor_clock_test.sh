#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# authctl doctor's clock check, on this host's real configuration (read only)
# but with its time tools replaced: in a private mount namespace, /usr/bin and
# /usr/sbin get an overlay (the host's files stay as they are) holding fake
# timedatectl, chronyc and ntpq that answer as a synchronized or an
# unsynchronized clock would. doctor must warn exactly for the unsynchronized
# answers, name the tool that answered, fall through a tool that is missing
# or fails to the next, and say "not checked" when none answers.
#   doctor_clock_test.sh AUTHCTL
set -euo pipefail
authctl=$(readlink -f "$1")
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (private mount namespace)"; exit 77; }
if [ "${AUTHCTL_CLOCK_NS:-}" != 1 ]; then
  exec unshare --mount --propagation private env AUTHCTL_CLOCK_NS=1 "$0" "$@"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for d in bin sbin; do
  mkdir -p "$work/$d.upper" "$work/$d.work"
  mount -t overlay overlay -o "lowerdir=/usr/$d,upperdir=$work/$d.upper,workdir=$work/$d.work" "/usr/$d"
done
tools=(/usr/bin/timedatectl /usr/bin/chronyc /usr/sbin/ntpq /usr/bin/ntpq)
passed=0
fail() { echo "FAIL: $*"; exit 1; }
# fake PATH EXIT OUTPUT: a tool that prints OUTPUT and exits EXIT
fake() { printf '#!/bin/sh\nprintf "%%s\\n" "%s"\nexit %s\n' "$3" "$2" >"$1"; chmod 0755 "$1"; }
none() { for t in "${tools[@]}"; do rm -f "$t"; done; }
doctor() { "$authctl" doctor --no-sshd --json 2>/dev/null || true; }
# check NAME EXPECTED_TOOL|-: the clock finding names EXPECTED_TOOL, or there is none
check() {
  local out; out=$(doctor)
  local msg; msg=$(jq -r '.findings[] | select(.id == "authctl.clock_not_synchronized") | .message' <<<"$out")
  local unchecked; unchecked=$(jq -r '.unchecked[] | select(startswith("clock:"))' <<<"$out")
  case $2 in
    -) [ -z "$msg" ] || fail "$1: unexpected clock finding: $msg"
       [ -z "$unchecked" ] || fail "$1: clock not checked: $unchecked" ;;
    unchecked) [ -z "$msg" ] || fail "$1: finding without a tool: $msg"
       [ -n "$unchecked" ] || fail "$1: no 'not checked' line for the clock" ;;
    *) [[ "$msg" == *"($2)"* ]] || fail "$1: expected a finding from $2, got '${msg:-nothing}'"
       [ -z "$unchecked" ] || fail "$1: clock also reported not checked" ;;
  esac
  echo "ok - $1"; passed=$((passed + 1))
}
none; fake /usr/bin/timedatectl 0 yes;                       check "timedatectl: synchronized" -
none; fake /usr/bin/timedatectl 0 no;                        check "timedatectl: not synchronized" timedatectl
none; fake /usr/bin/timedatectl 1 "";                        # fails: fall through
fake /usr/bin/chronyc 0 "Leap status     : Not synchronised"; check "chronyc after a failing timedatectl" chronyc
none; fake /usr/bin/chronyc 0 "Leap status     : Normal";    check "chronyc: synchronized" -
none; fake /usr/sbin/ntpq 0 'leap=11';                       check "ntpq: leap=11 (not synchronized)" ntpq
none; fake /usr/bin/ntpq 0 'leap=00';                        check "ntpq in /usr/bin: leap=00" -
none; printf '#!/bin/sh\necho yes\n' >/usr/bin/timedatectl; chmod 0644 /usr/bin/timedatectl
check "a timedatectl that cannot be run is not asked; no other tool: not checked" unchecked
echo "$passed checks passed"
