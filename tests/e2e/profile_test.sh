#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The shipped pam-auth-update profile (packaging/pam-configs/authctl), enabled
# by the real pam-auth-update, with the built module where libpam looks for
# it, driven through real libpam by pamtester: what a bad authctl.conf does to
# every service (issue 20, point 9). Root's login at the console (a local
# terminal) and cron keep working; sshd, sudo, other users at the console and
# login over a pseudo-terminal fail closed. (su is not driven here: as root,
# pam_rootok answers first; the unit and module tests cover which services
# step aside.) All in private mount and network namespaces: the machine's
# /etc, /usr/share/pam-configs and PAM module directory are bind-mounted
# copies, /var (pam-auth-update's state and debconf's database) an overlay
# whose writes stay in the test's directory, and the machine's
# /var/lib/authctl is never used.
#
#   profile_test.sh AUTHCTL MODULE SOURCE_DIR
set -uo pipefail
authctl=$(realpath "$1") module=$(realpath "$2") src=$(realpath "$3")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/e2e_lib.sh"
e2e_sandbox "$@"

# The module where libpam looks for "pam_authctl.so", in a copy of the
# module directory; the profile as shipped, beside the machine's own profiles.
unix=$(find /lib/*-linux-gnu/security /usr/lib/*-linux-gnu/security /lib/security -name pam_unix.so 2>/dev/null | head -1)
[ -n "$unix" ] || { echo "FAIL - pam_unix.so not found: where does libpam look for modules?"; exit 1; }
secdir=$(dirname "$unix")
cp -a "$secdir" "$work/security"
cp "$module" "$work/security/pam_authctl.so"
mount --bind "$work/security" "$secdir"
cp -a /usr/share/pam-configs "$work/pam-configs"
cp "$src/packaging/pam-configs/authctl" "$work/pam-configs/authctl"
mount --bind "$work/pam-configs" /usr/share/pam-configs
# /var as an overlay (pam-auth-update writes /var/lib/pam and, through
# debconf, /var/cache/debconf); the machine's own /var stays visible at
# $work/real-var to prove it unchanged at the end.
mkdir -p "$work/real-var" "$work/var.up" "$work/var.wk"
mount --bind /var "$work/real-var"
debconf_before=$(sha256sum "$work/real-var/cache/debconf/config.dat" 2>/dev/null)
mount -t overlay overlay -o "lowerdir=/var,upperdir=$work/var.up,workdir=$work/var.wk" /var \
  || { echo "FAIL - cannot overlay /var"; exit 1; }
# cron's own file as Debian's cron package ships it (cron need not be installed).
printf '@include common-auth\n@include common-account\n@include common-session-noninteractive\n' > /etc/pam.d/cron

pam-auth-update --package --enable authctl
check "pam-auth-update put the module into common-auth" grep -q 'pam_authctl.so' /etc/pam.d/common-auth
check "...and into common-account" grep -q 'pam_authctl.so' /etc/pam.d/common-account
check "per_source is on in both (issue 16)" \
  bash -c "grep -qE '^auth\s+required\s+pam_authctl.so nullok per_source\$' /etc/pam.d/common-auth && grep -qE '^account\s+required\s+pam_authctl.so per_source\$' /etc/pam.d/common-account"

add_user e2econs "" pw-cons
# root's password, in the namespace's copy of /etc/shadow only.
sed -i "s|^root:[^:]*:|root:$(openssl passwd -6 pw-root):|" /etc/shadow
conf=/etc/security/authctl.conf
# pamtester SERVICE USER ITEMS... -- OPERATIONS: USER's password (pw-cons or
# pw-root) on stdin; exit 0 on success.
pt() {
  local service=$1 user=$2 pw=pw-cons; shift 2
  [ "$user" = root ] && pw=pw-root
  local items=()
  while [ "$1" != -- ]; do items+=(-I "$1"); shift; done
  shift
  echo "$pw" | timeout 20 pamtester "${items[@]}" "$service" "$user" "$@" >>"$work/pamtester.log" 2>&1
}
fails() { ! "$@"; }
# A LOG_CRIT line at authpriv (priority 82) after MARK containing TEXT.
crit_since() { syslog_lines | tail -n +"$(($1 + 1))" | grep '^<82>' | grep -F "$2" >/dev/null; }

echo "# a good authctl.conf: the profile works (nullok: e2econs is not enrolled)"
printf 'dir = %s\n' "$state" > "$conf"
chmod 0644 "$conf"
check "authctl config check: ok" bash -c "'$authctl' config check | grep -qx '$conf: ok (1 setting)'"
check "login on tty1" pt login e2econs tty=tty1 -- authenticate acct_mgmt
check "sshd from a remote host" pt sshd e2econs rhost=192.0.2.7 -- authenticate acct_mgmt
check "sudo" pt sudo e2econs tty=pts/3 -- authenticate acct_mgmt
check "cron" pt cron e2econs -- acct_mgmt

echo "# one bad line in authctl.conf"
printf 'dir = %s\ndney = 3\n' "$state" > "$conf"
check "authctl config check names the line and exits 1" \
  bash -c "out=\$('$authctl' config check 2>&1); rc=\$?; echo \"\$out\" | grep -q '^$conf:2: unknown option .dney.' && [ \$rc = 1 ]"
check "...and in JSON: the line, ok false" \
  bash -c "'$authctl' config check --json | jq -e '.ok == false and .present and .problems[0].line == 2 and .settings == 1' >/dev/null"
mark=$(syslog_mark)
check "the console: root's login on tty1 still works" pt login root tty=tty1 -- authenticate acct_mgmt
check "...and on /dev/ttyS0 (a serial console)" pt login root tty=/dev/ttyS0 -- authenticate acct_mgmt
check "cron: the account phase still passes" pt cron e2econs -- acct_mgmt
check "the module logged why it stepped aside (LOG_CRIT)" \
  crit_since "$mark" "configuration error, stepping aside (service=login tty=tty1 rhost=- user=root): invalid argument: $conf:2: unknown option 'dney'"
check "another user at the console fails closed" fails pt login e2econs tty=tty1 -- authenticate
check "login over a pseudo-terminal fails closed" fails pt login root tty=pts/0 -- authenticate
check "login on a console tty with a remote host (telnet-style) fails closed" fails pt login root tty=tty1 rhost=192.0.2.7 -- authenticate
check "sshd fails closed (auth)" fails pt sshd e2econs rhost=192.0.2.7 -- authenticate
check "sshd fails closed (account: a key login)" fails pt sshd e2econs rhost=192.0.2.7 -- acct_mgmt
check "sudo fails closed, even on a console tty" fails pt sudo e2econs tty=tty1 -- authenticate
check "the refusals are logged as failing closed (LOG_CRIT)" \
  crit_since "$mark" "configuration error, failing closed (service=sshd tty=- rhost=192.0.2.7 user=e2econs): invalid argument: $conf:2: unknown option 'dney'"
echo "  pamtester said, e.g.:"; grep -E 'pamtester: ' "$work/pamtester.log" | sort | uniq -c | sed 's/^/    /'

check "pam-auth-update's debconf writes stayed in the overlay" test -f "$work/var.up/cache/debconf/config.dat"
check "...and the machine's debconf database is unchanged" \
  test "$(sha256sum "$work/real-var/cache/debconf/config.dat" 2>/dev/null)" = "$debconf_before"
e2e_finish
