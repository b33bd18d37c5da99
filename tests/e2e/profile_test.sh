#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped pam-auth-update profile (packaging/pam-configs/authctl), enabled
# by the real pam-auth-update, with the built module where libpam looks for
# it, driven through real libpam by pamtester: what a bad authctl.conf does to
# every service (issue 20, point 9). The console (login on a local terminal)
# and cron keep working; sshd, sudo and login over a pseudo-terminal fail
# closed. (su is not driven here: as root, pam_rootok answers first; the unit
# tests cover which services step aside.) All in private mount and network
# namespaces: the machine's /etc, /usr/share/pam-configs, /var/lib/pam and PAM
# module directory are bind-mounted copies, and the machine's /var/lib/authctl
# is never used.
#
#   profile_test.sh AUTHCTL MODULE SOURCE_DIR
set -uo pipefail
authctl=$(realpath "$1") module=$(realpath "$2") src=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/e2e_lib.sh"
e2e_sandbox "$@"

# The module where libpam looks for "pam_authctl.so", in a copy of the
# module directory; the profile as shipped, beside the machine's own profiles.
secdir=$(dirname "$(find /lib/*-linux-gnu/security /usr/lib/*-linux-gnu/security /lib/security -name pam_unix.so 2>/dev/null | head -1)")
cp -a "$secdir" "$work/security"
cp "$module" "$work/security/pam_authctl.so"
mount --bind "$work/security" "$secdir"
cp -a /usr/share/pam-configs "$work/pam-configs"
cp "$src/packaging/pam-configs/authctl" "$work/pam-configs/authctl"
mount --bind "$work/pam-configs" /usr/share/pam-configs
cp -a /var/lib/pam "$work/var-lib-pam"
mount --bind "$work/var-lib-pam" /var/lib/pam
# cron's own file as Debian's cron package ships it (cron need not be installed).
printf '@include common-auth\n@include common-account\n@include common-session-noninteractive\n' > /etc/pam.d/cron

pam-auth-update --package --enable authctl
check "pam-auth-update put the module into common-auth" grep -q 'pam_authctl.so' /etc/pam.d/common-auth
check "...and into common-account" grep -q 'pam_authctl.so' /etc/pam.d/common-account

add_user e2econs "" pw-cons
conf=/etc/security/authctl.conf
# pamtester SERVICE ITEMS... -- OPERATIONS: the password on stdin; exit 0 on success.
pt() {
  local service=$1; shift
  local items=()
  while [ "$1" != -- ]; do items+=(-I "$1"); shift; done
  shift
  echo pw-cons | timeout 20 pamtester "${items[@]}" "$service" e2econs "$@" >>"$work/pamtester.log" 2>&1
}
fails() { ! "$@"; }
# A LOG_CRIT line at authpriv (priority 82) after MARK containing TEXT.
crit_since() { syslog_lines | tail -n +"$(($1 + 1))" | grep '^<82>' | grep -F "$2" >/dev/null; }

echo "# a good authctl.conf: the profile works (nullok: e2econs is not enrolled)"
printf 'dir = %s\n' "$state" > "$conf"
chmod 0644 "$conf"
check "authctl config check: ok" bash -c "'$authctl' config check | grep -qx '$conf: ok (1 setting)'"
check "login on tty1" pt login tty=tty1 -- authenticate acct_mgmt
check "sshd from a remote host" pt sshd rhost=192.0.2.7 -- authenticate acct_mgmt
check "sudo" pt sudo tty=pts/3 -- authenticate acct_mgmt
check "cron" pt cron -- acct_mgmt

echo "# one bad line in authctl.conf"
printf 'dir = %s\ndney = 3\n' "$state" > "$conf"
check "authctl config check names the line and exits 1" \
  bash -c "out=\$('$authctl' config check 2>&1); rc=\$?; echo \"\$out\" | grep -q '^$conf:2: unknown option .dney.' && [ \$rc = 1 ]"
check "...and in JSON: the line, ok false" \
  bash -c "'$authctl' config check --json | jq -e '.ok == false and .present and .problems[0].line == 2 and .settings == 1' >/dev/null"
mark=$(syslog_mark)
check "the console: login on tty1 still works" pt login tty=tty1 -- authenticate acct_mgmt
check "...and on /dev/ttyS0 (a serial console)" pt login tty=/dev/ttyS0 -- authenticate acct_mgmt
check "cron: the account phase still passes" pt cron -- acct_mgmt
check "the module logged why it stepped aside (LOG_CRIT)" \
  crit_since "$mark" "configuration error, stepping aside for the console and cron (service=login tty=tty1): invalid argument: $conf:2: unknown option 'dney'"
check "login over a pseudo-terminal fails closed" fails pt login tty=pts/0 -- authenticate
check "login on a console tty with a remote host (telnet-style) fails closed" fails pt login tty=tty1 rhost=192.0.2.7 -- authenticate
check "sshd fails closed (auth)" fails pt sshd rhost=192.0.2.7 -- authenticate
check "sshd fails closed (account: a key login)" fails pt sshd rhost=192.0.2.7 -- acct_mgmt
check "sudo fails closed, even on a console tty" fails pt sudo tty=tty1 -- authenticate
check "the refusals are logged as failing closed (LOG_CRIT)" \
  crit_since "$mark" "configuration error, failing closed (service=sshd tty=-): invalid argument: $conf:2: unknown option 'dney'"
echo "  pamtester said, e.g.:"; grep -E 'pamtester: ' "$work/pamtester.log" | sort | uniq -c | sed 's/^/    /'

e2e_finish
