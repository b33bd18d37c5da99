#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# authctl invite --group against the real user database, inside a private
# mount namespace that sees only the users and groups this test makes
# (tests/support/private_users.sh): members listed in /etc/group and members
# by primary group are invited, enrolled members are skipped and listed, a
# stale member (in /etc/group, not in /etc/passwd) is named, and --grant-group
# needs a group that exists. The machine's /etc and users are never touched.
#   invite_group_test.sh AUTHCTL
set -euo pipefail
if [ "${1-}" != --inner ]; then
  self=$(readlink -f "$0")
  "$(dirname "$self")/../support/private_users.sh" "$self" --inner "$@"
  grep -q '^igdevs:' /etc/group && { echo "FAIL: the machine's /etc/group was changed"; exit 1; }
  echo "3 passed, 0 failed"
  exit 0
fi
shift
authctl=$1 state=$PRIVATE_WORK/state
fail() { echo "FAIL: $*"; exit 1; }
command -v jq >/dev/null || fail "jq is not installed"

# igdevs (4800): igann and igbob listed, igcat by primary group, ghost listed but no such user.
for spec in igann:4801:4801 igbob:4802:4802 igcat:4803:4800 igdan:4804:4804; do
  IFS=: read -r u uid gid <<<"$spec"
  echo "$u:x:$uid:$gid::/nonexistent:/bin/sh" >> /etc/passwd
  echo "$u:!:19000:0:99999:7:::" >> /etc/shadow
  [ "$gid" = 4800 ] || { echo "$u:x:$gid:" >> /etc/group; echo "$u:!::" >> /etc/gshadow; }
done
echo 'igdevs:x:4800:igann,igbob,ghost' >> /etc/group
echo 'igdevs:!::igann,igbob,ghost' >> /etc/gshadow
echo 'igsudo:x:4810:' >> /etc/group
echo 'igsudo:!::' >> /etc/gshadow

# 1. The members are invited, the non-member is not, the stale member is named.
out=$("$authctl" invite --group igdevs --for 3d --grant-group igsudo --dir "$state" 2>"$PRIVATE_WORK/err") \
  || fail "invite --group: $(cat "$PRIVATE_WORK/err")"
[ -s "$PRIVATE_WORK/err" ] && fail "invite --group wrote to stderr: $(cat "$PRIVATE_WORK/err")"
grep -qxF 'group igdevs: 3 invited (igann, igbob, igcat)' <<<"$out" || fail "not the three members: $out"
grep -qxF 'skipped, no such user: ghost' <<<"$out" || fail "stale member not named: $out"
for u in igann igbob igcat; do
  grep -q '^invitation ' "$state/$u.rec" || fail "$u has no invitation"
  grep -qx 'invite_group igsudo' "$state/$u.rec" || fail "$u: --grant-group not recorded"
  grep -q '^secret ' "$state/$u.rec" && fail "$u: a secret before the user confirmed"
done
[ -e "$state/igdan.rec" ] && fail "invited a user who is not a member"
[ "$("$authctl" status --dir "$state" | tail -n1)" = "3 users invited to enroll at login" ] \
  || fail "status summary: $("$authctl" status --dir "$state")"
echo "ok: invite --group invites listed and primary-group members, names stale ones"

# 2. An enrolled member is skipped and listed; the others are invited again (a new nonce).
"$authctl" enroll -u igbob --dir "$state" --qr none >/dev/null
nonce_before=$(awk '/^invitation /{print $2}' "$state/igann.rec")
# enroll (unconfirmed) does not count as enrolled for --group: confirm it by a verify.
secret=$(awk '/^secret /{print $2}' "$state/igbob.rec")
"$authctl" verify -u igbob --dir "$state" "$(oathtool -b --totp - <<<"$secret")" >/dev/null || fail "verify igbob"
out=$("$authctl" invite --group igdevs --dir "$state" --json) || fail "invite --group --json"
[ "$(jq -c '[.[] | select(.invited) | .user] | sort' <<<"$out")" = '["igann","igcat"]' ] || fail "--json invited: $out"
[ "$(jq -c '[.[] | select(.invited | not) | [.user, .reason]]' <<<"$out")" = '[["igbob","enrolled"],["ghost","no such user"]]' ] \
  || fail "--json skipped: $out"
[ "$(awk '/^invitation /{print $2}' "$state/igann.rec")" != "$nonce_before" ] || fail "re-invite kept the nonce"
out=$("$authctl" invite --group igdevs --dir "$state")
grep -qxF 'skipped, already enrolled: igbob (invite each with -u USER --replace)' <<<"$out" || fail "skip line: $out"
echo "ok: an enrolled member is skipped and listed"

# 3. Refusals: one line, nothing written.
snapshot() { (cd "$state" && find . -type f -exec sha256sum {} + | sort); }
before=$(snapshot)
for args in "--group nosuchgroup" "--group igdevs --grant-group nosuchgroup" "--group igdevs --replace"; do
  set +e; err=$("$authctl" invite $args --dir "$state" 2>&1 >/dev/null); rc=$?; set -e
  [ $rc -ne 0 ] || fail "invite $args succeeded"
  [ "$(wc -l <<<"$err")" -eq 1 ] || fail "invite $args: not one line: $err"
done
[ "$(snapshot)" = "$before" ] || fail "a refused invite changed the state directory"
echo "ok: refusals are one line and change nothing"
