#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# authctl audit asks sudo itself (sudo -n -l -U USER) who may run commands,
# against the real sudo, with a sudoers and sudoers.d this test writes, in a
# private mount namespace that sees only this test's users
# (tests/support/private_users.sh): the machine's sudoers and users are never
# touched nor seen.
#   audit_sudo_test.sh AUTHCTL
set -euo pipefail
if [ "${1-}" != --inner ]; then
  self=$(readlink -f "$0")
  "$(dirname "$self")/../support/private_users.sh" "$self" --inner "$@"
  echo "3 passed, 0 failed"
  exit 0
fi
shift
authctl=$1 state=$PRIVATE_WORK/state
fail() { echo "FAIL: $*"; exit 1; }
command -v sudo >/dev/null || fail "sudo is not installed (scripts/deps.txt)"

# sudoers: root, %sudo, and sudoers.d, all written here (the namespace's /etc is a copy).
rm -rf /etc/sudoers.d; mkdir -m 0755 /etc/sudoers.d
printf 'Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n' > /etc/sudoers
printf 'sdbyname ALL=(ALL:ALL) ALL\nsdenrolled ALL=(root) /usr/bin/true\n' > /etc/sudoers.d/authctl-test
chmod 0440 /etc/sudoers /etc/sudoers.d/authctl-test
# Users: two given sudo by name (one enrolled), one without sudo, one
# without a login shell (given sudo in part 4: sudo needs no shell); an empty sudo group.
uid=4900
for u in sdbyname sdenrolled sdplain sdnologin; do
  uid=$((uid + 1)); shell=/bin/bash; [ $u = sdnologin ] && shell=/usr/sbin/nologin
  echo "$u:x:$uid:$uid::/home/$u:$shell" >> /etc/passwd
  echo "$u:!:19000:0:99999:7:::" >> /etc/shadow
  echo "$u:x:$uid:" >> /etc/group
done
echo 'sudo:x:27:' >> /etc/group
grep -qx /bin/bash /etc/shells || fail "/bin/bash is not in /etc/shells"
sudo -n -l -U sdbyname | grep -q 'may run the following commands' || fail "the test's sudoers does not work"

"$authctl" enroll -u sdenrolled --dir "$state" --qr none >/dev/null
s=$("$authctl" show -u sdenrolled --dir "$state" --json | jq -r .secret)
"$authctl" verify -u sdenrolled --dir "$state" "$(oathtool -b --totp -N "@$(( $(date +%s) + 30 ))" - <<<"$s")" >/dev/null \
  || fail "could not confirm sdenrolled"

# 1. The user given sudo by name and not enrolled is found; the enrolled one
# is not; the empty sudo group is a note, not "every member enrolled".
set +e; out=$("$authctl" audit --dir "$state" --json); rc=$?; set -e
[ $rc -eq 1 ] || fail "audit with a finding: rc=$rc: $out"
python3 - "$out" <<'PY' || fail "audit --json: $out"
import json, sys
j = json.loads(sys.argv[1])
assert j["groups"] == ["sudo"], j["groups"]
assert j["findings"] == [{"kind": "not_enrolled", "user": "sdbyname", "group": None, "via": "sudoers",
                          "detail": None, "message": "sdbyname (sudoers): not enrolled"}], j["findings"]
assert {"kind": "empty_group", "user": None, "group": "sudo", "via": None, "detail": None,
        "message": "group sudo: no members"} in j["notes"], j["notes"]
assert j["sudo"] == {"users_asked": 4, "may_run": ["sdbyname", "sdenrolled"]}, j["sudo"]
PY
set +e; out=$("$authctl" audit --dir "$state"); rc=$?; set -e
[ $rc -eq 1 ] || fail "audit: rc=$rc"
[ "$out" = "sdbyname (sudoers): not enrolled
note: group sudo: no members" ] || fail "audit text: $out"
echo "ok: a user given sudo by name in sudoers.d is found; an empty group is reported as such"

# 2. Once enrolled and confirmed, nothing is found (exit 0); a group member
# without an enrollment is found through the group.
"$authctl" enroll -u sdbyname --dir "$state" --qr none >/dev/null
s=$("$authctl" show -u sdbyname --dir "$state" --json | jq -r .secret)
set +e; out=$("$authctl" audit --dir "$state" --json); rc=$?; set -e
[ $rc -eq 1 ] && [ "$(jq -c '[.findings[] | [.kind, .user, .via]]' <<<"$out")" = '[["unconfirmed","sdbyname","sudoers"]]' ] \
  || fail "unconfirmed: rc=$rc $out"
"$authctl" verify -u sdbyname --dir "$state" "$(oathtool -b --totp -N "@$(( $(date +%s) + 30 ))" - <<<"$s")" >/dev/null
out=$("$authctl" audit --dir "$state") || fail "audit with everyone enrolled: $out"
[ "$out" = "note: group sudo: no members
no findings: every member of sudo and every user sudo lets run commands (2 of 4 users asked) has a confirmed enrollment, and $state is safe" ] \
  || fail "audit text: $out"
sed -i 's/^sudo:x:27:$/sudo:x:27:sdplain/' /etc/group
set +e; out=$("$authctl" audit --dir "$state" --json); rc=$?; set -e
[ $rc -eq 1 ] && [ "$(jq -c '[.findings[] | [.kind, .user, .group, .via]]' <<<"$out")" = '[["not_enrolled","sdplain","sudo","group"]]' ] \
  || fail "group member: rc=$rc $out"
[ "$(jq '.notes | length' <<<"$out")" -eq 0 ] || fail "notes: $out"
echo "ok: enrolled and confirmed users are not reported; group members are"

# 3. When sudo cannot answer (a world-writable sudoers, which sudo refuses),
# audit says so for each user it asked, with sudo's reason, as findings:
# never "no findings".
chmod 0666 /etc/sudoers
set +e; out=$("$authctl" audit --dir "$state" --json); rc=$?; set -e
chmod 0440 /etc/sudoers
[ $rc -eq 1 ] || fail "broken sudoers: rc=$rc $out"
[ "$(jq -c '[.findings[] | select(.kind == "sudo_query_failed") | [.user, .via]]' <<<"$out")" = '[["sdbyname","sudoers"],["sdenrolled","sudoers"],["sdnologin","sudoers"],["sdplain","sudoers"]]' ] \
  || fail "broken sudoers: $out"
case $(jq -r '.findings[] | select(.user == "sdbyname") | .detail' <<<"$out") in
  "sudo: /etc/sudoers is world writable; "*" (exit 1)") ;;
  *) fail "the reason is not sudo's: $out";;
esac
echo "ok: sudo's failure to answer is a finding with its reason"

# 4. sudo needs no login shell: a user with nologin given sudo is found. A
# rule or default that runs commands without authenticating (NOPASSWD:,
# !authenticate) skips PAM and so the code: a finding, for an enrolled user
# and for a group member too.
printf 'sdnologin ALL=(ALL) ALL\nsdenrolled ALL=(ALL) NOPASSWD: /usr/bin/id\nDefaults:sdplain !authenticate\n' \
  > /etc/sudoers.d/authctl-test-2
chmod 0440 /etc/sudoers.d/authctl-test-2
set +e; out=$("$authctl" audit --dir "$state" --json); rc=$?; set -e
[ $rc -eq 1 ] || fail "part 4: rc=$rc $out"
[ "$(jq -c '[.findings[] | [.kind, .user, .via]] | sort' <<<"$out")" = \
  '[["no_authentication","sdenrolled","sudoers"],["no_authentication","sdplain","sudoers"],["not_enrolled","sdnologin","sudoers"],["not_enrolled","sdplain","group"]]' ] \
  || fail "part 4 findings: $out"
case $(jq -r '.findings[] | select(.kind == "no_authentication" and .user == "sdenrolled") | .detail' <<<"$out") in
  *"NOPASSWD: /usr/bin/id"*) ;;
  *) fail "the NOPASSWD rule is not named: $out";;
esac
case $(jq -r '.findings[] | select(.kind == "no_authentication" and .user == "sdplain") | .detail' <<<"$out") in
  *"!authenticate"*) ;;
  *) fail "the !authenticate default is not named: $out";;
esac
echo "ok: a sudoer without a login shell is found; NOPASSWD and !authenticate are findings"
