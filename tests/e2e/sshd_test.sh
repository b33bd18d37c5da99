#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# pam_authctl.so behind a real OpenSSH sshd, logged into with the real ssh
# client, in private mount and network namespaces: the test's /etc (with its
# pam.d/sshd and users) is a bind-mounted copy, sshd listens on the private
# 127.0.0.1 only, and is stopped by its pid whatever happens.
#
#   sshd_test.sh AUTHCTL MODULE
set -uo pipefail
authctl=$(realpath "$1") module=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/e2e_lib.sh"
e2e_sandbox "$@"

opts="dir=$state deny=3 unlock_time=600"
# The stacks from docs/pam_authctl.md, with the module's path and options.
code_stack="auth     required   $module $opts
account  required   $module $opts
account  required   pam_unix.so
session  required   pam_permit.so"
password_stack="auth     requisite                    $module preauth $opts
auth     [success=1 default=ignore]   pam_unix.so
auth     [default=die]                $module authfail $opts
auth     required                     $module $opts
account  required                     $module $opts
account  required                     pam_unix.so
session  required                     pam_permit.so"
echo "$code_stack" > /etc/pam.d/sshd

# e2esrc (per_source below): key and code from 127.0.0.3 (the owner), a key
# alone from anywhere else (so that the account phase is what refuses it).
e2e_sshd "Match User e2ekey
  AuthenticationMethods publickey,keyboard-interactive
Match User e2esrc Address 127.0.0.3
  AuthenticationMethods publickey,keyboard-interactive" || exit 1
echo "sshd pid $sshd_pid on 127.0.0.1:$port ($(/usr/sbin/sshd -V 2>&1 | head -1))"

echo "# authctl doctor on this sandbox's sshd configuration"
# The sandbox lets a key alone (e2elock, e2esrc below: the account phase is
# what refuses them) and a code alone (kbd) log in: doctor must say exactly
# that of it, and nothing else; then one bypass at a time, each flagged.
doctor_tree sshd || exit 1
doctor_run clean
check "doctor: exit 1 on the sandbox as written" doctor_exit clean 1
check "...for the publickey-alone and code-alone logins it allows, on purpose, and nothing else" \
  doctor_only clean sshd.single_factor sshd.code_alone
check "...the first at 'PubkeyAuthentication yes' (sshd_config:8)" doctor_has clean sshd.single_factor /etc/ssh/sshd_config 8
check "...the second at 'KbdInteractiveAuthentication yes' (sshd_config:6)" doctor_has clean sshd.code_alone /etc/ssh/sshd_config 6
sed -i '1i auth     sufficient pam_unix.so' "$work/doctor/etc/pam.d/sshd"
doctor_run sufficient
check "doctor flags 'auth sufficient pam_unix.so' before the module (exit 1)" doctor_exit sufficient 1
check "...as pam.bypass at /etc/pam.d/sshd:1" doctor_has sufficient pam.bypass /etc/pam.d/sshd 1
doctor_tree sshd || exit 1
sed -i 's/^KbdInteractiveAuthentication yes$/KbdInteractiveAuthentication no/' "$work/doctor/etc/ssh/sshd_config"
doctor_run kbd
check "doctor flags 'KbdInteractiveAuthentication no' (exit 1)" doctor_exit kbd 1
check "...as sshd.kbd_interactive_disabled at /etc/ssh/sshd_config:6" \
  doctor_has kbd sshd.kbd_interactive_disabled /etc/ssh/sshd_config 6
echo "  doctor: $doctor_ms ms for 3 runs"

# Refused: ssh gave up (255) without running the command.
refused() { ! logged_in "$1" "${2:-last}" && [ "$(cat "$work/rc.${2:-last}")" = 255 ]; }

for u in e2ecode e2ekey e2elock e2ereplay e2epass e2eload e2eburst e2esrc e2eenum; do
  add_user "$u" "" "pw-$u"
  add_ssh_key "$u"
done
for u in e2ecode e2ekey e2elock e2ereplay e2epass e2eload e2eburst e2esrc e2eenum; do
  declare "secret_$u=$(enroll "$u")"
done

echo "# keyboard-interactive with a code"
login e2ecode kbd "$(code "$secret_e2ecode")"
check "a correct code logs in and runs the remote command" logged_in e2ecode
check "the prompt reached the ssh client" prompted
login e2ecode kbd 000000
check "a wrong code is refused" refused e2ecode
check "the wrong code is counted" test "$(status_field e2ecode failures)" = 1
check "status shows where it came from" test "$(status_field e2ecode from)" = 127.0.0.1

echo "# publickey,keyboard-interactive"
login e2ekey key+kbd "$(code "$secret_e2ekey")"
check "key plus code logs in" logged_in e2ekey
login e2ekey key+kbd 000000
check "key plus a wrong code is refused" refused e2ekey
check "the key alone is not enough (sshd: partial success)" grep -q 'Partial publickey for e2ekey' "$work/sshd.log"
login e2ekey kbd "$(code "$secret_e2ekey" 1)"
check "a code without the key is refused (AuthenticationMethods)" refused e2ekey

echo "# lockout after deny=3 wrong codes"
login e2elock key "" "" keyfirst
check "before the lock, the key alone logs in (this user has no AuthenticationMethods)" logged_in e2elock keyfirst
for i in 1 2; do login e2elock kbd 11111$i "" "wrong$i"; done
# The third with ssh's default of 3 keyboard-interactive tries: it locks, and
# sshd is told (PAM_MAXTRIES) not to ask again on this connection.
password_prompts=3 login e2elock kbd 111113 "" wrong3
check "three wrong codes are refused" refused e2elock wrong3
check "the third tells the user the account is locked" told 'Account locked after 3 failed attempts' wrong3
check "...once, and the client is not asked again on that connection" \
  test "$(grep -c 'Account locked' "$work/err.wrong3")/$(grep -c . "$work/prompts.wrong3")" = 1/1
check "status: locked with 3 failures" test "$(status_field e2elock locked)/$(status_field e2elock failures)" = true/3
login e2elock kbd "$(code "$secret_e2elock")"
check "even the right code is refused while locked" refused e2elock
check "...without asking for it" bash -c "! grep -q . '$work/prompts.last'"
check "...and with the lock message" told 'Account locked after 3 failed attempts'
# ssh retries keyboard-interactive (3 times by default): the module answers a
# locked user PAM_MAXTRIES, so sshd stops offering it on this connection and
# the message is shown once.
password_prompts=3 login e2elock kbd "$(code "$secret_e2elock")" "" retries
echo "  with 3 client retries: told $(grep -c 'Account locked' "$work/err.retries") time(s), asked $(grep -c . "$work/prompts.retries") time(s)"
check "a locked user's client retrying 3 times is told once per connection" \
  test "$(grep -c 'Account locked after 3 failed attempts' "$work/err.retries")" = 1
check "...refused, never asked" bash -c "[ \"\$(cat '$work/rc.retries')\" = 255 ] && ! grep -q . '$work/prompts.retries'"
login e2elock key
check "a publickey-only login of a locked user is refused by the account phase" refused e2elock
check "sshd logs the refused key login" grep -q 'Failed publickey for e2elock' "$work/sshd.log"
check "the module logged the lock to authpriv, with the remote host" \
  logged 'pam_authctl(sshd:auth): user e2elock: account locked after 3 failures (service=sshd rhost=127.0.0.1)'
check "...and the account phase's refusal" logged 'pam_authctl(sshd:account): user e2elock: account denied: account locked (3 failures)'
check "status still shows 3 failures (the account phase never counts)" test "$(status_field e2elock failures)" = 3
check "authctl reset says what it did" bash -c "'$authctl' reset -u e2elock --dir '$state' | grep -q 'e2elock: 3 failures cleared, account unlocked'"
login e2elock kbd "$(code "$secret_e2elock")"
check "after authctl reset the user logs in again" logged_in e2elock

echo "# one code, two logins"
c=$(code "$secret_e2ereplay")
login e2ereplay kbd "$c" "" first
login e2ereplay kbd "$c" "" second
check "the first login with the code succeeds" logged_in e2ereplay first
check "the same code for a second login is refused" refused e2ereplay second

echo "# 32 parallel logins through sshd with the same valid code"
c=$(code "$secret_e2eload")
pids=()
for i in $(seq 32); do login e2eload kbd "$c" "" "load$i" & pids+=($!); done
wait "${pids[@]}"
ok=0
for i in $(seq 32); do logged_in e2eload "load$i" && ok=$((ok + 1)); done
echo "  $ok of 32 logged in"
check "exactly one of 32 parallel logins with one code succeeds" test "$ok" = 1

echo "# 32 parallel wrong codes with deny=3"
pids=()
for i in $(seq 32); do login e2eburst kbd 00000$((i % 10)) "" "burst$i" & pids+=($!); done
wait "${pids[@]}"
locked_msgs=0
for i in $(seq 32); do told 'Account locked' "burst$i" && locked_msgs=$((locked_msgs + 1)); done
echo "  failures $(status_field e2eburst failures), locked $(status_field e2eburst locked), $locked_msgs clients told"
check "exactly 3 of 32 parallel wrong codes were evaluated and counted" test "$(status_field e2eburst failures)" = 3
check "the user is locked" test "$(status_field e2eburst locked)" = true
check "no parallel wrong code logged in" bash -c "! grep -l 'logged in' '$work'/out.burst* 2>/dev/null | grep -q ."

echo "# per_source: the attacker's address is locked, the owner's is not"
src_t0=$SECONDS
# Two client addresses on the loopback: the attacker at 127.0.0.2, the owner
# at 127.0.0.3 (ssh -b); sshd gives each to PAM as PAM_RHOST.
echo "${code_stack//"$opts"/"$opts per_source"}" > /etc/pam.d/sshd
check "the stack has per_source (auth and account)" test "$(grep -c "$module .*per_source" /etc/pam.d/sshd)" = 2
bind=127.0.0.2 login e2esrc key "" "" src_key1
check "before: a key-only login from 127.0.0.2 logs in" logged_in e2esrc src_key1
for i in 1 2; do bind=127.0.0.2 login e2esrc kbd 22222$i "" "src_wrong$i"; done
bind=127.0.0.2 password_prompts=3 login e2esrc kbd 222223 "" src_wrong3
check "the attacker's third wrong code locks its address, and it is told so" \
  told 'Logins from this address are locked after 3 failed attempts' src_wrong3
check "...not the account" bash -c "! grep -q 'Account locked' '$work/err.src_wrong3'"
bind=127.0.0.2 login e2esrc kbd "$(code "$secret_e2esrc")" "" src_right
check "from 127.0.0.2 even the right code is refused, without asking" \
  bash -c "[ \"\$(cat '$work/rc.src_right')\" = 255 ] && ! grep -q . '$work/prompts.src_right'"
bind=127.0.0.2 login e2esrc key "" "" src_key2
check "a key-only login from 127.0.0.2 is refused by the account phase" refused e2esrc src_key2
check "...logged as locked from that source" \
  logged 'pam_authctl(sshd:account): user e2esrc: account denied: locked from this source (3 failures) (service=sshd rhost=127.0.0.2)'
check "the module logged the source's lock" logged 'user e2esrc: source 127.0.0.2 locked after 3 failures'
check "authctl status: the user is not locked, 3 failures" \
  test "$(status_field e2esrc locked)/$(status_field e2esrc failures)" = false/3
{ "$authctl" status -u e2esrc --dir "$state" --json || [ $? -eq 1 ]; } > "$work/status.src" 2> "$work/status.src.err"
check "authctl status --json shows the source 127.0.0.2 locked" \
  jq -e '.[0].sources | map(select(.source == "127.0.0.2" and .locked)) | length == 1' "$work/status.src"
bind=127.0.0.3 login e2esrc key+kbd "$(code "$secret_e2esrc")" "" src_owner
check "the owner's key and code from 127.0.0.3 log in" logged_in e2esrc src_owner
check "...asked for the code there (key and code)" prompted src_owner
check "...and told of the failures" \
  told 'There were 3 failed attempts from 1 source since your last successful login' src_owner
bind=127.0.0.2 login e2esrc key "" "" src_key3
check "the owner's login does not unlock 127.0.0.2" refused e2esrc src_key3
echo "  per_source section: $((SECONDS - src_t0)) s"

echo "# password (pam_unix) + code, faillock-style"
echo "$password_stack" > /etc/pam.d/sshd
login e2epass kbd "$(code "$secret_e2epass")" pw-e2epass
check "right password and right code log in" logged_in e2epass
check "both prompts were shown" bash -c "grep -q Password '$work/prompts.last' && grep -qi 'verification code' '$work/prompts.last'"
login e2epass kbd "$(code "$secret_e2epass" 1)" wrong-password pw1
check "a wrong password is refused" refused e2epass pw1
check "...before the code is asked" bash -c "! grep -qi 'verification code' '$work/prompts.pw1'"
login e2epass kbd "$(code "$secret_e2epass" 1)" wrong-password pw2
check "password failures count toward the lock" test "$(status_field e2epass failures)" = 2
login e2epass kbd 000000 pw-e2epass pw3
check "a right password with a wrong code is the third failure: locked" \
  test "$(status_field e2epass locked)/$(status_field e2epass failures)" = true/3
login e2epass kbd "$(code "$secret_e2epass" 1)" pw-e2epass pw4
check "locked: the right password and code are refused" refused e2epass pw4
check "...and not even the password is asked (preauth is requisite)" bash -c "! grep -q . '$work/prompts.pw4'"
"$authctl" reset -u e2epass --dir "$state" >/dev/null
login e2epass kbd "$(code "$secret_e2epass" 1)" pw-e2epass pw5
check "after reset, password and code log in" logged_in e2epass pw5

echo "# enumeration through the lock (issue 19): a made-up name is locked like a real user"
enum_t0=$SECONDS
# The password + code stack is still in place. e2eenum is real and enrolled;
# e2emadeup exists nowhere. Wrong passwords, each pair of logins in parallel
# (the 2 s fail delay each).
for i in 1 2 3 4; do
  login e2eenum kbd 000000 wrong-password "enum_real$i" & real_pid=$!
  login e2emadeup kbd 000000 wrong-password "enum_fake$i" & fake_pid=$!
  wait "$real_pid" "$fake_pid"
done
# What the client saw, with the user's own name taken out.
same_for_both() {
  diff <(sed 's/e2eenum/USER/g' "$work/$1.enum_real$2") <(sed 's/e2emadeup/USER/g' "$work/$1.enum_fake$2")
}
for i in 1 2 3 4; do
  check "login $i: the made-up name is asked exactly what the real user is" same_for_both prompts "$i"
  check "login $i: ...and told exactly the same" same_for_both err "$i"
  check "login $i: ...with the same result" test "$(cat "$work/rc.enum_real$i")" = "$(cat "$work/rc.enum_fake$i")"
done
check "both were asked for a password before the lock" \
  bash -c "grep -q Password '$work/prompts.enum_real1' && grep -q Password '$work/prompts.enum_fake1'"
check "the third wrong password locks both, and both are told so" \
  bash -c "grep -q 'Account locked after 3 failed attempts' '$work/err.enum_real3' && grep -q 'Account locked after 3 failed attempts' '$work/err.enum_fake3'"
check "then neither is asked anything" \
  bash -c "! grep -q . '$work/prompts.enum_real4' && ! grep -q . '$work/prompts.enum_fake4'"
check "...and both are told they are locked" \
  bash -c "grep -q 'Account locked after 3 failed attempts' '$work/err.enum_real4' && grep -q 'Account locked after 3 failed attempts' '$work/err.enum_fake4'"
check "status: the real user locked with 3 failures" \
  test "$(status_field e2eenum locked)/$(status_field e2eenum failures)" = true/3
check "the made-up name was counted in its bucket, not under its own name" \
  bash -c "ls '$state' | grep -q '^%3Aunknown%3A' && ! ls '$state' | grep -q e2emadeup"
echo "  enumeration section: $((SECONDS - enum_t0)) s"

echo "# the log"
check "no code that was typed ever reaches the log" bash -c "! cat '$work'/code.* | sort -u | grep -v '^\$' | grep -qFf - '$work/syslog'"
echo "  $(syslog_lines | grep -c pam_authctl) lines from pam_authctl, e.g.:"
syslog_lines | grep pam_authctl | sed -n '1,4s/^/    /p'

e2e_finish
