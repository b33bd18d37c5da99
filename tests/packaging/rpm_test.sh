#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# packaging/rpm/authctl.spec, linted and built into a binary RPM with Debian's
# rpmbuild from a source tarball of this tree (BuildRequires are RHEL package
# names, so they are not checked here: --nodeps); then the RPM's file list.
#   rpm_test.sh SOURCE_DIR
set -uo pipefail
src=$(realpath "$1")
. "$src/tests/e2e/e2e_lib.sh"
top=$(mktemp -d /tmp/authctl-rpm-XXXXXX)
if [ -n "${RPM_KEEP:-}" ]; then echo "kept $top"; else trap 'rm -rf --one-file-system "$top"' EXIT; fi
spec=$src/packaging/rpm/authctl.spec
version=$(rpmspec -q --srpm --qf '%{version}' "$spec" 2>/dev/null)

rpmlint "$spec" > "$top/rpmlint.log" 2>&1
check "rpmlint finds no error in the spec" grep -q ' 0 errors' "$top/rpmlint.log" || cat "$top/rpmlint.log"

mkdir -p "$top/SOURCES"
tar -C "$src" --exclude=./build --exclude=./.git --transform "s,^\\.,authctl-$version," \
    -czf "$top/SOURCES/authctl-$version.tar.gz" .
rpmbuild -bb --nodeps -D "_topdir $top" -D 'debug_package %{nil}' -D "_smp_mflags -j$(nproc)" "$spec" \
    > "$top/rpmbuild.log" 2>&1
check "rpmbuild -bb builds the package" test $? = 0 || tail -30 "$top/rpmbuild.log"
rpm=$(ls "$top"/RPMS/*/authctl-"$version"-*.rpm 2>/dev/null | head -1)
[ -n "$rpm" ] || { e2e_finish; exit 1; }
echo "  $(basename "$rpm"), $(stat -c %s "$rpm") bytes"
rpm -qlvp "$rpm" 2>/dev/null | awk '{print $1, $3, $4, $NF}' > "$top/files"
has() { grep -qE "^$1 root +root $2\$" "$top/files"; }
check "the module in the system's PAM directory (/usr/lib64/security)" has -rwxr-xr-x /usr/lib64/security/pam_authctl.so
check "authctl in /usr/sbin" has -rwxr-xr-x /usr/sbin/authctl
check "/etc/security/authctl.conf as a config file" \
  bash -c "has() { :; }; rpm -qcp '$rpm' 2>/dev/null | grep -qx /etc/security/authctl.conf"
check "the state directory, mode 0700" has drwx------ /var/lib/authctl
check "the man pages" bash -c "grep -q 'man8/pam_authctl.8' '$top/files' && grep -q 'man8/authctl.8' '$top/files' && grep -q 'man5/authctl.conf.5' '$top/files'"
check "bash completion" has -rw-r--r-- /usr/share/bash-completion/completions/authctl
check "the licence: License: Apache-2.0 and the LICENSE file" bash -c "rpm -qp --qf '%{license}' '$rpm' | grep -qx Apache-2.0 && grep -qE '/usr/share/licenses/authctl(-[0-9.]+)?/LICENSE\$' '$top/files'"
check "no Debian pam-auth-update profile" bash -c "! grep -q pam-configs '$top/files'"
check "an upgrade restarts a running agent (%postun try-restart), an erase stops it (%preun)" \
  bash -c "rpm -qp --scripts '$rpm' | grep -q 'systemctl try-restart authctld.service' && rpm -qp --scripts '$rpm' | grep -q 'systemctl stop authctld.socket authctld.service'"
check "%post warns about a bad authctl.conf (authctl config check), never failing the install" \
  bash -c "rpm -qp --scripts '$rpm' | grep -q 'authctl config check'"
e2e_finish
