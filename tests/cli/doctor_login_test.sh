#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# authctl doctor --login: one real PAM transaction through the real libpam on
# a test stack holding the built pam_authctl.so (pam_start_confdir under
# --root), answered through a pseudo-terminal (python3's pty): the right code
# (oathtool) logs in, a wrong one does not and is counted, a locked user is
# refused without being asked. Then doctor's checks on this (private) host
# report a sudo member without an enrollment (authctl audit's finding, reused).
# In a private mount namespace with this test's users only
# (tests/support/private_users.sh).
#   doctor_login_test.sh AUTHCTL PAM_MODULE
set -euo pipefail
if [ "${1-}" != --inner ]; then
  self=$(readlink -f "$0")
  exec "$(dirname "$self")/../support/private_users.sh" "$self" --inner "$@"
fi
shift
authctl=$1 module=$2 work=$PRIVATE_WORK
state=$work/state root=$work/root
passed=0
fail() { echo "FAIL: $*"; exit 1; }
echo 'dlogin:x:4950:4950::/home/dlogin:/bin/bash' >>/etc/passwd
echo 'dlogin:!:19000:0:99999:7:::' >>/etc/shadow
echo 'dlogin:x:4950:' >>/etc/group
mkdir -p "$root/etc/pam.d"
printf 'auth required %s dir=%s\naccount required %s dir=%s\n' "$module" "$state" "$module" "$state" \
  >"$root/etc/pam.d/doctortest"
"$authctl" enroll -u dlogin --dir "$state" --qr none --recovery-codes 0 >/dev/null
secret=$("$authctl" show -u dlogin --dir "$state" --json | jq -r .secret)

# login ANSWER: runs doctor --login on a pty, answers the first prompt with
# ANSWER (none when it is "-"), prints the transcript; exit status doctor's.
login() {
  python3 - "$authctl" "$root" "$1" <<'PY'
import os, pty, select, sys, time
authctl, root, answer = sys.argv[1:4]
pid, fd = pty.fork()
if pid == 0:
    os.execv(authctl, [authctl, "doctor", "--login", "dlogin", "--service", "doctortest", "--root", root])
out, sent, end = b"", False, time.time() + 20
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    if not sent and answer != "-" and b"Verification code:" in out:
        os.write(fd, answer.encode() + b"\n")
        sent = True
done = os.waitpid(pid, os.WNOHANG)
if done == (0, 0):  # still waiting for input: stop it
    os.kill(pid, 9)
    out += b"\n[killed: still running after 20 s]"
    done = os.waitpid(pid, 0)
status = done[1]
sys.stdout.write(out.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
PY
}
code() { oathtool -b --totp -N "@$(( $(date +%s) + ${1:-0} ))" - <<<"$secret"; }

# 1. The right code: asked without echo, accepted, account ok, exit 0.
good=$(code)
out=$(login "$good") || fail "right code: doctor exits $?: $out"
grep -q 'changes what a real login changes' <<<"$out" || fail "no warning first: $out"
grep -q 'the login would succeed' <<<"$out" || fail "right code: $out"
grep -qF 'asked: "Verification code: " (hidden)' <<<"$out" || fail "the prompt is not listed as hidden: $out"
! grep -q "$good" <<<"$out" || fail "the code was echoed: $out"
passed=$((passed + 1))

# 2. A wrong code: refused, exit 1, and counted like a real login's.
wrong=$(( (10#$(code 120) + 1) % 1000000 )); wrong=$(printf '%06d' "$wrong")
if out=$(login "$wrong"); then fail "wrong code accepted: $out"; fi
grep -q 'auth: Authentication failure' <<<"$out" || fail "wrong code: $out"
grep -q 'the login would fail (auth)' <<<"$out" || fail "wrong code: $out"
"$authctl" status -u dlogin --dir "$state" --json | jq -e '.[0].failures == 1' >/dev/null \
  || fail "the failure was not counted: $("$authctl" status -u dlogin --dir "$state" --json)"
passed=$((passed + 1))

# 3. A locked user: refused without being asked for a code.
"$authctl" lock -u dlogin --dir "$state" >/dev/null
if out=$(login -); then fail "locked user let in: $out"; fi
! grep -q 'Verification code:' <<<"$out" || fail "a locked user was asked for a code: $out"
grep -q 'asked: nothing' <<<"$out" || fail "locked: $out"
grep -q 'the login would fail (auth)' <<<"$out" || fail "locked: $out"
passed=$((passed + 1))

# 4. doctor (the checks, not --login) on this host: a member of sudo who never
# enrolled is reported through authctl audit's check; the enrolled user is not.
echo 'dmember:x:4951:4951::/home/dmember:/bin/bash' >>/etc/passwd
echo 'dmember:!:19000:0:99999:7:::' >>/etc/shadow
printf 'dmember:x:4951:\nsudo:x:27:dmember,dlogin\n' >>/etc/group
printf 'dir = %s\n' "$state" >"$work/authctl.conf"
out=$("$authctl" doctor --no-sshd --conf "$work/authctl.conf" --json) && fail "doctor exits 0 with findings: $out"
jq -e '[.findings[] | select(.id == "authctl.audit.not_enrolled")] | length == 1' <<<"$out" >/dev/null \
  || fail "the unenrolled sudo member is not reported: $out"
jq -e '[.findings[] | select(.id == "authctl.audit.not_enrolled") | .message | test("dmember")] == [true]' <<<"$out" \
  >/dev/null || fail "the finding does not name dmember: $out"
passed=$((passed + 1))
echo "$passed passed, 0 failed"
