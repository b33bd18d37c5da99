#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The .deb that `cpack -G DEB` makes, installed, used, removed and purged with
# the real dpkg on this machine's own package database -- inside a private
# mount namespace where /etc, /usr and /var are overlays whose writes land in a
# tmpfs: the machine's files, PAM stacks and dpkg database are never changed.
#
#   deb_test.sh BUILD_DIR      (a build configured with -DCMAKE_INSTALL_PREFIX=/usr)
set -uo pipefail
build=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../e2e/e2e_lib.sh"
e2e_enter "$@"
work=$AUTHCTL_E2E_WORK
trap e2e_cleanup EXIT

echo "# the package"
(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; echo "FAIL - cpack"; exit 1; }
deb=$(ls "$work"/out/authctl_*.deb)
echo "  $(basename "$deb"), $(stat -c %s "$deb") bytes"
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' > "$work/contents"
pamdir=$(dirname "$(readlink -f "$(ls /lib/*/security/pam_permit.so /usr/lib*/security/pam_permit.so 2>/dev/null | head -1)")")
ships() { grep -qE "^$1 root/root \\./${2#/}\$" "$work/contents"; }
check "the module goes to the system's PAM directory ($pamdir)" \
  bash -c "grep -qE ' \\./(usr/)?${pamdir#/usr/}/pam_authctl.so\$| \\./${pamdir#/}/pam_authctl.so\$' '$work/contents'"
check "authctl goes to /usr/sbin, executable, root-owned" ships -rwxr-xr-x /usr/sbin/authctl
check "a commented /etc/security/authctl.conf, root-owned, not writable by others" ships -rw-r--r-- /etc/security/authctl.conf
check "...marked as a conffile" bash -c "dpkg-deb -I '$deb' conffiles | grep -qx /etc/security/authctl.conf"
check "the state directory, mode 0700" ships drwx------ /var/lib/authctl/
check "bash completion" ships -rw-r--r-- /usr/share/bash-completion/completions/authctl
check "the machine-readable copyright file (Apache-2.0)" bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xOf - ./usr/share/doc/authctl/copyright | grep -qx 'License: Apache-2.0'"
check "the sshd drop-in example" ships -rw-r--r-- /usr/share/doc/authctl/examples/sshd_config.d-authctl.conf
check "the pam-auth-update profile" ships -rw-r--r-- /usr/share/pam-configs/authctl
check "...off by default" bash -c "dpkg-deb --fsys-tarfile '$deb' | tar -xOf - ./usr/share/pam-configs/authctl | grep -qx 'Default: no'"
for page in man8/pam_authctl.8 man8/authctl.8 man5/authctl.conf.5; do
  check "man page $page" bash -c "grep -qE ' \\./usr/share/man/$page(\\.gz)?\$' '$work/contents'"
done
check "the fleet agent goes to /usr/sbin" ships -rwxr-xr-x /usr/sbin/authctld
check "its systemd socket and service units" \
  bash -c "grep -qE ' \./(usr/)?lib/systemd/system/authctld.socket\$' '$work/contents' && grep -qE ' \./(usr/)?lib/systemd/system/authctld.service\$' '$work/contents'"
check "man page man8/authctld.8" bash -c "grep -qE ' \./usr/share/man/man8/authctld.8(\.gz)?\$' '$work/contents'"
check "the package declares libpq (the agent's and the CLI's, never the module's)" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q libpq5"
check "nothing from the tests is shipped" bash -c "! grep -qiE 'test|gtest|fuzz|bench' '$work/contents'"
check "the package declares its libraries (shlibdeps) and pam-auth-update" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q libpam-runtime && dpkg-deb -f '$deb' Depends | grep -q libssl"

echo "# install with dpkg (overlays over /etc /usr /var)"
mkdir "$work/layers"
mount -t tmpfs -o mode=0755 tmpfs "$work/layers"
for d in etc usr var; do
  mkdir "$work/layers/$d.up" "$work/layers/$d.wk"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$work/layers/$d.up,workdir=$work/layers/$d.wk" "/$d" \
    || { echo "FAIL - cannot overlay /$d"; exit 1; }
done
cp -a /etc/pam.d/common-auth "$work/common-auth.before"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$work/dpkg-i.log" 2>&1
check "dpkg -i succeeds" test $? = 0 || cat "$work/dpkg-i.log"
check "dpkg -s says installed" bash -c "dpkg -s authctl | grep -qx 'Status: install ok installed'"
check "dpkg -L lists the CLI and the module" \
  bash -c "dpkg -L authctl | grep -qx /usr/sbin/authctl && dpkg -L authctl | grep -q '/security/pam_authctl.so\$'"
check "the state directory is root's, mode 700" test "$(stat -c '%U:%G %a' /var/lib/authctl)" = "root:root 700"
check "installing changed no PAM stack (profile off by default)" cmp -s /etc/pam.d/common-auth "$work/common-auth.before"
check "authctl --help runs from PATH" bash -c "PATH=/usr/sbin:/usr/bin authctl --help | grep -q enroll"
check "fleet mode is off until configured: no unit enabled" \
  bash -c "! ls /etc/systemd/system/*.wants/authctld* 2>/dev/null | grep -q ."
authctld --check > "$work/authctld-check.log" 2>&1
check_rc=$?
check "authctld without /etc/authctl/fleet.conf refuses to start (exit 1), in one line" \
  bash -c "test $check_rc = 1 && test \$(wc -l < '$work/authctld-check.log') = 1 && grep -q fleet.conf '$work/authctld-check.log'"
if command -v man >/dev/null; then
  check "man finds the pages" bash -c "man -w pam_authctl >/dev/null && man -w authctl >/dev/null && man -w 5 authctl.conf >/dev/null"
fi

echo "# a login through the installed module (named without a path) and the shipped config"
useradd -M -d /nonexistent -s /usr/sbin/nologin debuser
secret=$(authctl enroll -u debuser --qr none --json | jq -r .secret)
check "authctl enroll stores to the default state directory" test -f /var/lib/authctl/debuser.rec
printf 'auth required pam_authctl.so\naccount required pam_authctl.so\n' > /etc/pam.d/authctl-deb
oathtool --totp -b "$secret" | pamtester authctl-deb debuser authenticate > "$work/pamtester.ok" 2>&1
check "pamtester: the right code authenticates" grep -q 'successfully authenticated' "$work/pamtester.ok"
echo 000000 | pamtester authctl-deb debuser authenticate > "$work/pamtester.bad" 2>&1
check "pamtester: a wrong code is refused" bash -c "! grep -q 'successfully' '$work/pamtester.bad'"
check "...and counted in the installed store" \
  test "$(authctl status -u debuser --json | jq -r '.[0].failures')" = 1

echo "# pam-auth-update, remove, purge"
pam-auth-update --package --enable authctl
check "pam-auth-update --enable authctl adds the module to common-auth (with nullok)" \
  grep -qE '^auth\s+required\s+pam_authctl.so nullok' /etc/pam.d/common-auth
check "...and to common-account" grep -qE '^account\s+required\s+pam_authctl.so' /etc/pam.d/common-account
DEBIAN_FRONTEND=noninteractive dpkg -r authctl > "$work/dpkg-r.log" 2>&1
check "dpkg -r succeeds" test $? = 0 || cat "$work/dpkg-r.log"
check "removal takes the module out of common-auth first" bash -c "! grep -q pam_authctl /etc/pam.d/common-auth /etc/pam.d/common-account"
check "...and the module and CLI are gone" bash -c "test ! -e /usr/sbin/authctl && ! ls '$pamdir/pam_authctl.so' 2>/dev/null"
check "remove keeps the enrollments and the config" test -f /var/lib/authctl/debuser.rec -a -f /etc/security/authctl.conf
DEBIAN_FRONTEND=noninteractive dpkg --purge authctl > "$work/dpkg-purge.log" 2>&1
check "dpkg --purge succeeds" test $? = 0 || cat "$work/dpkg-purge.log"
check "purge removes the state directory and the config" test ! -e /var/lib/authctl -a ! -e /etc/security/authctl.conf
check "dpkg no longer knows the package" bash -c "! dpkg -s authctl >/dev/null 2>&1"
check "common-auth is as it was before the install" cmp -s /etc/pam.d/common-auth "$work/common-auth.before"

e2e_finish
