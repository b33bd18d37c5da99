#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package (debian/), built the Debian way -- dpkg-buildpackage from
# a clean copy of the tracked files (source package, then binary) -- and
# checked with lintian (no error, no warning); then installed, used, upgraded,
# removed and purged with the real dpkg on this machine's own package database,
# inside a private mount namespace where /etc, /usr and /var are overlays whose
# writes land in a tmpfs, and /run is a tmpfs of its own: the machine's files,
# PAM stacks, dpkg database and systemd are never touched.
#
#   deb_test.sh SOURCE_DIR
set -uo pipefail
src=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../e2e/e2e_lib.sh"
e2e_enter "$@"
work=$AUTHCTL_E2E_WORK
trap e2e_cleanup EXIT

echo "# the package: dpkg-buildpackage from a clean copy of the tracked files"
mkdir -p "$work/pkg/authctl"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$work/pkg/authctl"
else
  tar -C "$src" --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$work/pkg/authctl"
fi
check "the copy has no build tree" test ! -e "$work/pkg/authctl/build" -a ! -e "$work/pkg/authctl/obj-$(dpkg-architecture -qDEB_HOST_GNU_TYPE)"
# The build-only list (scripts/install-deps --build, README's Install) is
# debian/control's Build-Depends as dpkg reads them, and none of the tests' tools.
(cd "$work/pkg/authctl" && perl -MDpkg::Control::Info -MDpkg::Deps -e \
  'my $d = deps_parse(Dpkg::Control::Info->new("debian/control")->get_source->{"Build-Depends"}, build_dep => 1);
   print map { ($_->{package} =~ s/^debhelper-compat$/debhelper/r) . "\n" } $d->get_deps' | sort) > "$work/build-depends"
"$src/scripts/install-deps" --list --build | sort > "$work/build-only"
check "install-deps --build installs build-essential and exactly the Build-Depends" \
  bash -c "test -s '$work/build-depends' && diff <(grep -vx build-essential '$work/build-only') '$work/build-depends'"
check "...and nothing the tests alone need (clang, rpm, valgrind, lintian, gtest)" \
  bash -c "! grep -qE '^(clang|llvm|rpm|rpmlint|valgrind|lintian|libgtest-dev|postgresql-15)\$' '$work/build-only'"
start=$(date +%s)
(cd "$work/pkg/authctl" && dpkg-buildpackage -us -uc -S) > "$work/build-source.log" 2>&1
check "dpkg-buildpackage -us -uc -S builds the source package" test $? = 0 || tail -20 "$work/build-source.log"
(cd "$work/pkg/authctl" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1
check "dpkg-buildpackage -us -uc -b builds the .deb" test $? = 0 || { tail -30 "$work/build.log"; e2e_finish; exit 1; }
echo "  built in $(( $(date +%s) - start )) s"
check "...with the test suite off" bash -c "grep -q 'AUTHCTL_BUILD_TESTS=OFF' '$work/build.log' && ! grep -qiE 'gtest|authctl_unit' '$work/build.log'"
deb=$(ls "$work"/pkg/authctl_*.deb)
echo "  $(basename "$deb"), $(stat -c %s "$deb") bytes"
# lintian exits non-zero on an error; a warning is found in its output (an
# overridden tag shows as O:, with the override's reason as N: lines).
lintian -I --pedantic --show-overrides \
  "$work"/pkg/authctl_*_source.changes "$work"/pkg/authctl_*_"$(dpkg --print-architecture)".changes \
  > "$work/lintian.log" 2>&1
lintian_rc=$?
grep -E '^[A-Z]: ' "$work/lintian.log" | sed 's/^/  lintian /'
check "lintian on the source package (.dsc), the .deb and both .changes: no error, no warning" \
  bash -c "test $lintian_rc = 0 && ! grep -qE '^[EW]: ' '$work/lintian.log'"
check "...which it did read: the one override (the state directory's 0700, with its reason) is used" \
  grep -q '^O: authctl: non-standard-dir-perm 0700 != 0755 \[var/lib/authctl/\]' "$work/lintian.log"
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
  check "man page $page, compressed" ships -rw-r--r-- "/usr/share/man/$page.gz"
done
check "the changelog" ships -rw-r--r-- /usr/share/doc/authctl/changelog.gz
check "the fleet agent goes to /usr/sbin" ships -rwxr-xr-x /usr/sbin/authctld
check "its systemd socket and service units" \
  bash -c "grep -qE ' \./(usr/)?lib/systemd/system/authctld.socket\$' '$work/contents' && grep -qE ' \./(usr/)?lib/systemd/system/authctld.service\$' '$work/contents'"
check "man page man8/authctld.8, compressed" ships -rw-r--r-- /usr/share/man/man8/authctld.8.gz
check "the package declares libpq (the agent's and the CLI's, never the module's)" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q libpq5"
check "nothing from the tests is shipped" bash -c "! grep -qiE 'test|gtest|fuzz|bench' '$work/contents'"
check "the package declares its libraries (shlibdeps) and pam-auth-update" \
  bash -c "dpkg-deb -f '$deb' Depends | grep -q libpam-runtime && dpkg-deb -f '$deb' Depends | grep -q libssl"

echo "# install with dpkg (overlays over /etc /usr /var, a private /run)"
mkdir "$work/layers"
mount -t tmpfs -o mode=0755 tmpfs "$work/layers"
for d in etc usr var; do
  mkdir "$work/layers/$d.up" "$work/layers/$d.wk"
  mount -t overlay overlay -o "lowerdir=/$d,upperdir=$work/layers/$d.up,workdir=$work/layers/$d.wk" "/$d" \
    || { echo "FAIL - cannot overlay /$d"; exit 1; }
done
cp -a /etc/pam.d/common-auth "$work/common-auth.before"
# The maintainer scripts see a systemd (/run/systemd/system) whose systemctl
# only records what it is asked: the machine's own systemd is never told
# anything. A policy-rc.d that lets them act (a container's forbids it, and
# then deb-systemd-invoke would hide what the scripts ask for).
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systemd/system "$work/fakebin"
printf '#!/bin/sh\necho "$*" >> %s/systemctl.log\n' "$work" > "$work/fakebin/systemctl"
chmod 0755 "$work/fakebin/systemctl"
printf '#!/bin/sh\nexit 0\n' > /usr/sbin/policy-rc.d
chmod 0755 /usr/sbin/policy-rc.d
: > "$work/systemctl.log"
export PATH="$work/fakebin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
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
check "...nor started: systemd was only told to reload" \
  bash -c "grep -q daemon-reload '$work/systemctl.log' && ! grep -vx -- '--system daemon-reload' '$work/systemctl.log' | grep -q ."
: > "$work/systemctl.log"
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$work/dpkg-upgrade.log" 2>&1
check "an upgrade (the same .deb again) succeeds" test $? = 0 || cat "$work/dpkg-upgrade.log"
check "...restarts a running agent on the new binary, and only a running one (try-restart)" \
  bash -c "grep -qx 'try-restart authctld.service authctld.socket' '$work/systemctl.log' && \
           ! grep -vxE -- '--system daemon-reload|try-restart authctld.service authctld.socket' '$work/systemctl.log' | grep -q ."
check "...and says nothing about PAM lines (the module stays)" bash -c "! grep -q WARNING '$work/dpkg-upgrade.log'"
# An edited conffile with a bad line: the upgrade goes through, and says so.
cp -p /etc/security/authctl.conf "$work/authctl.conf.good"
printf 'dney = 3\n' >> /etc/security/authctl.conf
bad_line=$(wc -l < /etc/security/authctl.conf)
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" > "$work/dpkg-badconf.log" 2>&1
check "an upgrade with a bad authctl.conf succeeds" test $? = 0 || cat "$work/dpkg-badconf.log"
check "...and warns, naming the file, line and key (authctl config check)" \
  grep -qF "authctl:     /etc/security/authctl.conf:$bad_line: unknown option 'dney'" "$work/dpkg-badconf.log"
check "...and what the module does meanwhile" grep -q "except root's console login" "$work/dpkg-badconf.log"
cp -p "$work/authctl.conf.good" /etc/security/authctl.conf
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
# Lines an admin put in by hand, which removal cannot take out: a sudo stack
# naming the module, one with a Latin-1 byte in its comment; one in
# /etc/pam.conf (which libpam ignores while /etc/pam.d exists); and two that
# are harmless once it is gone (a comment, and a '-' line libpam skips quietly).
[ -f /etc/pam.d/sudo ] || printf '@include common-auth\n' > /etc/pam.d/sudo
printf 'auth\trequired\tpam_authctl.so\n' >> /etc/pam.d/sudo
sudo_line=$(wc -l < /etc/pam.d/sudo)
printf 'auth required pam_authctl.so # caf\351\n' > /etc/pam.d/authctl-latin1
printf 'sudo auth required %s/pam_authctl.so nullok\n' "$pamdir" >> /etc/pam.conf
printf '# auth required pam_authctl.so\n-auth optional pam_authctl.so\nauth required pam_permit.so # not pam_authctl.so\n' \
  > /etc/pam.d/authctl-harmless
: > "$work/systemctl.log"
DEBIAN_FRONTEND=noninteractive dpkg -r authctl > "$work/dpkg-r.out" 2> "$work/dpkg-r.log"
check "dpkg -r succeeds (a warning, not a refusal)" test $? = 0 || cat "$work/dpkg-r.out" "$work/dpkg-r.log"
sed -n '/authctl: WARNING/,/second session/p' "$work/dpkg-r.log" | sed 's/^/  /'
warned() { grep -qxF "authctl:     $1" "$work/dpkg-r.log"; }
check "removal warns, on stderr, naming /etc/pam.d/sudo and the line that still names the module" \
  warned "/etc/pam.d/sudo:$sudo_line:auth	required	pam_authctl.so"
check "...and every other such line in /etc/pam.d" \
  bash -c "$(declare -f warned); work='$work'; warned '/etc/pam.d/authctl-deb:1:auth required pam_authctl.so' && \
           warned '/etc/pam.d/authctl-deb:2:account required pam_authctl.so'"
check "...a line with a byte that is not UTF-8 too" grep -q '^authctl:     /etc/pam.d/authctl-latin1:1:auth required pam_authctl.so' "$work/dpkg-r.log"
check "...but not /etc/pam.conf, which libpam ignores while /etc/pam.d exists" \
  bash -c "! grep -q '/etc/pam.conf' '$work/dpkg-r.log'"
check "...saying what breaks and what to do" \
  bash -c "grep -q 'these services will refuse EVERY login' '$work/dpkg-r.log' && grep -q 'Take these lines out now' '$work/dpkg-r.log' && grep -q 'reinstall' '$work/dpkg-r.log'"
check "...not about comments, '-' lines or pam-auth-update's own lines (taken out first)" \
  bash -c "! grep -qE 'authctl-harmless|common-(auth|account)' '$work/dpkg-r.log'"
check "the agent is stopped on removal" grep -qx 'stop authctld.socket authctld.service' "$work/systemctl.log"
check "removal takes the module out of common-auth first" bash -c "! grep -q pam_authctl /etc/pam.d/common-auth /etc/pam.d/common-account"
check "...and the module and CLI are gone" bash -c "test ! -e /usr/sbin/authctl && ! ls '$pamdir/pam_authctl.so' 2>/dev/null"
echo 000000 | pamtester authctl-deb debuser authenticate > "$work/pamtester.gone" 2>&1
check "...so, as warned, a service still naming it refuses the login" bash -c "! grep -q 'successfully' '$work/pamtester.gone'"
check "remove keeps the enrollments and the config" test -f /var/lib/authctl/debuser.rec -a -f /etc/security/authctl.conf
DEBIAN_FRONTEND=noninteractive dpkg --purge authctl > "$work/dpkg-purge.log" 2>&1
check "dpkg --purge succeeds" test $? = 0 || cat "$work/dpkg-purge.log"
check "purge removes the state directory and the config" test ! -e /var/lib/authctl -a ! -e /etc/security/authctl.conf
check "dpkg no longer knows the package" bash -c "! dpkg -s authctl >/dev/null 2>&1"
check "common-auth is as it was before the install" cmp -s /etc/pam.d/common-auth "$work/common-auth.before"

e2e_finish
