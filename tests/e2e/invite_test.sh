#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Enrollment at login by invitation (issue 17) behind the real sshd and the
# real ssh client on a pseudo-terminal (tests/e2e/pty_login.py), and under the
# real sudo, in private mount and network namespaces (e2e_lib.sh):
#   - alice, invited, logs in with her key through AuthenticationMethods
#     publickey,keyboard-interactive: the client's output holds the QR code,
#     which decodes (zbarimg) to the URI whose code (oathtool) she types; she
#     is in, and her next login asks for a code;
#   - bob, not invited, sees the normal prompt;
#   - carol, invited, under sudo: told to log in over ssh.
#
#   invite_test.sh AUTHCTL MODULE
set -uo pipefail
authctl=$(realpath "$1") module=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/e2e_lib.sh"
e2e_sandbox "$@"

opts="dir=$state deny=5 unlock_time=600"
cat > /etc/pam.d/sshd <<EOF
auth     required   $module $opts
account  required   $module $opts
account  required   pam_unix.so
session  required   pam_permit.so
EOF
e2e_sshd "AuthenticationMethods publickey,keyboard-interactive" || exit 1
echo "sshd pid $sshd_pid on 127.0.0.1:$port ($(/usr/sbin/sshd -V 2>&1 | head -1))"

for u in alice bob; do
  add_user "e2e$u"
  add_ssh_key "e2e$u"
done
add_user e2ecarol sudo

in_as() { grep -qx "logged in as $1" "$work/out.$2"; }

echo "# alice, invited, enrolls at her ssh login"
"$authctl" invite -u e2ealice --dir "$state" > "$work/invite.out" 2>&1
check "authctl invite -u e2ealice succeeds" test $? = 0
sed 's/^/    /' "$work/invite.out"
pty_login e2ealice first
check "she is in" in_as e2ealice first
check "the client's output holds the QR code, which decodes to an otpauth URI" \
  grep -q '^otpauth://totp/.*:e2ealice?secret=' "$work/uri.first"
check "...the URI the module also printed as text" grep -qF "Or open this link on the phone: $(cat "$work/uri.first")" "$work/out.first"
check "...after the heading" grep -q 'You are invited to set up one-time codes for e2ealice' "$work/out.first"
check "she was asked for the code her app shows" grep -q 'Code shown by your app:' "$work/out.first"
check "...then shown her 10 recovery codes" \
  bash -c "grep -A10 'Keep these recovery codes somewhere safe; each works once:' '$work/out.first' | grep -cE '^  [a-z0-9-]{8,}\$' | grep -qx 10"
check "status: enrolled and confirmed, no invitation left" \
  test "$(status_field e2ealice enrolled)/$(status_field e2ealice confirmed)/$(status_field e2ealice invitation)" = true/true/null
check "the module logged who enrolled, from where, and who invited" \
  logged 'pam_authctl(sshd:auth): user e2ealice: enrolled by invitation (invited by root) (service=sshd rhost=127.0.0.1)'
echo "  what her terminal showed (first 6 and last 14 lines):"
sed -n '1,6s/^/    | /p' "$work/out.first"
tail -n 14 "$work/out.first" | sed 's/^/    | /'

echo "# her next login asks for a code"
secret=$(sed -n 's/.*[?&]secret=\([A-Z2-7]*\).*/\1/p' "$work/uri.first")
code "$secret" 1 > "$work/code.second"
pty_login e2ealice second
check "asked for the verification code, no QR code this time" \
  bash -c "grep -q 'Verification code:' '$work/out.second' && ! grep -q 'Code shown by your app' '$work/out.second'"
check "with the next code from her app she is in" in_as e2ealice second

echo "# bob, not invited: the normal prompt"
echo 000000 > "$work/code.bob"
pty_login e2ebob bob
check "asked for a verification code" grep -q 'Verification code:' "$work/out.bob"
check "...no invitation, no QR code" bash -c "! grep -q -e 'invited' -e 'Code shown by your app' -e $'\u2588' '$work/out.bob'"
check "...refused with a wrong code" bash -c "! in_as e2ebob bob 2>/dev/null && ! grep -qx 'logged in as e2ebob' '$work/out.bob'"

echo "# carol, invited, under sudo: told to log in over ssh"
cat > /etc/pam.d/sudo <<EOF
auth     required   $module $opts
account  required   $module $opts
account  required   pam_unix.so
session  required   pam_permit.so
EOF
[ /etc -ef "$work/etc" ] || { echo "FAIL - /etc is not the private copy; not writing sudoers"; exit 1; }
printf 'Defaults env_reset\nDefaults passwd_tries=1\nDefaults !lecture\nroot ALL=(ALL:ALL) ALL\n%%sudo ALL=(ALL:ALL) ALL\n' \
  > /etc/sudoers
chmod 0440 /etc/sudoers
rm -rf /etc/sudoers.d
visudo -cq || { echo "FAIL - the test's sudoers does not parse"; exit 1; }
"$authctl" invite -u e2ecarol --dir "$state" >/dev/null
printf '123456\n' | setpriv --reuid e2ecarol --regid e2ecarol --init-groups \
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work/home/e2ecarol" sudo -S -k id -un \
  > "$work/out.sudo" 2> "$work/err.sudo"
echo $? > "$work/rc.sudo"
check "sudo refuses her" bash -c "[ \"\$(cat '$work/rc.sudo')\" != 0 ] && ! grep -qx root '$work/out.sudo'"
check "...and says: log in over ssh to finish enrolling" \
  grep -q 'You are invited to set up one-time codes: log in over ssh to finish enrolling.' "$work/err.sudo"
check "...shows no QR code" bash -c "! grep -q $'\u2588' '$work/err.sudo'"
check "...and keeps the invitation" test "$(status_field e2ecarol invitation)" != null
sed 's/^/    /' "$work/err.sudo"

e2e_finish
