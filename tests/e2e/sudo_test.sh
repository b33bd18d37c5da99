#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pam_authctl.so behind the real sudo (setuid root, its own PAM service), in
# private mount and network namespaces: /etc/pam.d/sudo, the sudoers drop-in
# and the test users live in a bind-mounted copy of /etc, so the machine's
# PAM files and sudoers are never touched. Test users run sudo through
# setpriv with their own uid, gid and groups, answering on stdin (sudo -S).
#
#   sudo_test.sh AUTHCTL MODULE
set -uo pipefail
authctl=$(realpath "$1") module=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/e2e_lib.sh"
e2e_sandbox "$@"

# The "sudo: code only" stack from docs/pam_authctl.md, without nullok.
opts="dir=$state deny=3 unlock_time=600"
cat > /etc/pam.d/sudo <<EOF
auth     required   $module $opts
account  required   $module $opts
account  required   pam_unix.so
session  required   pam_permit.so
EOF
# The test's own sudoers (Debian's: %sudo may run anything), not the machine's,
# whose drop-ins (a NOPASSWD, other Defaults) would change what sudo asks; the
# drop-in makes one invocation one attempt, so each sudo below is exactly one
# PAM authentication.
[ /etc -ef "$work/etc" ] || { echo "FAIL - /etc is not the private copy; not writing sudoers"; exit 1; }
printf 'Defaults env_reset\nDefaults secure_path="/usr/sbin:/usr/bin:/sbin:/bin"\nroot ALL=(ALL:ALL) ALL\n%%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n' \
  > /etc/sudoers
chmod 0440 /etc/sudoers
rm -rf /etc/sudoers.d && mkdir -m 0755 /etc/sudoers.d
dropin=/etc/sudoers.d/authctl-e2e
printf 'Defaults passwd_tries=1\nDefaults !lecture\n' > "$dropin"
chmod 0440 "$dropin"
visudo -cq || { echo "FAIL - sudoers with the drop-in does not parse"; exit 1; }
echo "sudo: $(sudo -V | head -1)"

echo "# authctl doctor on this sandbox's sudo stack"
doctor_tree sudo || exit 1
doctor_run clean --no-sshd
check "doctor finds the sudo stack as written clean (exit 0, notes allowed)" doctor_exit clean 0
check "...no error or warning" doctor_only clean
sed -i "/^account *required *${module//\//\\/} /d" "$work/doctor/etc/pam.d/sudo"
doctor_run noaccount --no-sshd
check "doctor flags the sudo stack without the module's account line (exit 1)" doctor_exit noaccount 1
# (A line that is missing has no line number: doctor names the file only.)
check "...as pam.account_missing in /etc/pam.d/sudo" doctor_has noaccount pam.account_missing /etc/pam.d/sudo null
echo "  doctor: $doctor_ms ms for 2 runs"

add_user sudoer sudo
add_user sudonone sudo
add_user sudonew
secret_sudoer=$(enroll sudoer)

# as_user USER CMD...: CMD as USER (uid, gid, supplementary groups), with a
# clean environment; stdin is passed through.
as_user() {
  local user=$1; shift
  setpriv --reuid "$user" --regid "$user" --init-groups \
    env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work/home/$user" USER="$user" LOGNAME="$user" "$@"
}
# try_sudo USER ANSWER TAG: `sudo -S -k id -un` as USER answering ANSWER;
# output in $work/out.TAG and err.TAG, exit status in rc.TAG.
try_sudo() {
  local user=$1 answer=$2 tag=$3
  echo "$answer" >> "$work/typed"
  printf '%s\n' "$answer" | as_user "$user" sudo -S -k id -un > "$work/out.$tag" 2> "$work/err.$tag"
  echo $? > "$work/rc.$tag"
}
got_root() { [ "$(cat "$work/rc.$1")" = 0 ] && grep -qx root "$work/out.$1"; }
refused() { [ "$(cat "$work/rc.$1")" != 0 ] && ! grep -qx root "$work/out.$1"; }

echo "# an enrolled member of sudo"
try_sudo sudoer "$(code "$secret_sudoer")" right
check "the right code runs the command as root" got_root right
check "sudo showed the module's prompt" told 'Verification code' right
check "...and the enrollment is now confirmed" test "$(status_field sudoer confirmed)" = true
try_sudo sudoer "$(code "$secret_sudoer")" replay
check "the same code a second time is refused" refused replay
try_sudo sudoer 000000 wrong
check "a wrong code is refused" refused wrong
check "...and counted" test "$(status_field sudoer failures)" = 2
check "...and logged to authpriv for service sudo" logged 'pam_authctl(sudo:auth): user sudoer: wrong code'
try_sudo sudoer 111111 wrong2
check "the third failure locks the account" test "$(status_field sudoer locked)" = true
try_sudo sudoer "$(code "$secret_sudoer" 1)" locked
check "while locked even the right code is refused" refused locked
check "...without being asked for a code" bash -c "! grep -q 'Verification code' '$work/err.locked'"
check "...and the log says why" logged 'pam_authctl(sudo:auth): user sudoer: refused without asking: account locked (3 failures)'
# sudo authenticates with PAM_SILENT, so the module shows no text there (the
# lock notice included), exactly like pam_faillock; ssh shows it (sshd_test).
check "sudo passes PAM_SILENT: the lock notice is not shown" bash -c "! grep -q 'Account locked' '$work/err.wrong2' '$work/err.locked'"
# On a terminal (what the admin's users see), as docs/admin-guide.md section 5
# says: a locked user gets sudo's one line and nothing of why.
as_user sudoer script -qec "sudo -k id -un" /dev/null < /dev/null > "$work/tty.locked" 2>&1
check "on a terminal, a locked user sees only sudo's '1 incorrect password attempt'" \
  test "$(tr -d '\r' < "$work/tty.locked")" = "sudo: 1 incorrect password attempt"
sed 's/^/    /' "$work/tty.locked"
"$authctl" reset -u sudoer --dir "$state" >/dev/null
try_sudo sudoer "$(code "$secret_sudoer" 1)" afterreset
check "after authctl reset the right code works again" got_root afterreset

echo "# a member of sudo who never enrolled"
try_sudo sudonone 123456 none
check "is refused" refused none
check "...the module says why in the log" logged 'pam_authctl(sudo:auth): user sudonone: refused: no enrollment (1 failure)'
# Counted like an enrolled user's wrong code (issue 19: a lock must not say
# who is enrolled): a tally-only record, no enrollment.
check "...and the failure is counted in a tally-only record" \
  sh -c "'$authctl' status -u sudonone --dir '$state' --json | jq -e '.[0].failures == 1 and .[0].enrolled == false'"
"$authctl" audit --dir "$state" > "$work/audit.out" 2>&1
check "authctl audit exits 1" test $? = 1
check "...and names the unenrolled member of sudo" grep -q sudonone "$work/audit.out"
check "...but not the enrolled, confirmed one" bash -c "! grep -q 'sudoer\\b' '$work/audit.out'"

echo "# the recipe: sudo only through a confirmed enrollment"
try_sudo sudonew 123456 notyet
check "a user outside sudo is refused" refused notyet
enroll_confirmed sudonew sudo > "$work/enroll.out" 2>&1
check "enroll --confirm --grant-group sudo succeeds" test $? = 0
check "...and says it added the user to sudo" grep -q 'Added sudonew to group sudo' "$work/enroll.out"
secret_sudonew=$(sed -n 's/^secret //p' "$work/enroll.out")
try_sudo sudonew "$(code "$secret_sudonew" 1)" granted
check "the new member runs sudo with a code" got_root granted
"$authctl" audit --dir "$state" > "$work/audit2.out" 2>&1
check "audit does not list the member who enrolled through the recipe" bash -c "! grep -q sudonew '$work/audit2.out'"
"$authctl" remove -u sudonew --dir "$state" >/dev/null
try_sudo sudonew "$(code "$secret_sudonew" 2)" removed
check "authctl remove takes sudo away again" refused removed

echo "# the log"
check "no code that was typed ever reaches the log" \
  bash -c "! grep pam_authctl '$work/syslog' | grep -qFf <(sort -u '$work/typed')"
rm -f "$dropin"
check "the sudoers drop-in is removed and sudoers still parses" bash -c "test ! -e '$dropin' && visudo -cq"

e2e_finish
