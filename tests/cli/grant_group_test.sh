#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# authctl enroll --confirm --grant-group and authctl remove against the real
# shadow tools (gpasswd) and the real user database, inside a private mount
# namespace whose /etc is a copy: the machine's /etc is never touched.
#   grant_group_test.sh AUTHCTL
set -euo pipefail
authctl=$1
work=$(mktemp -d /tmp/authctl-grant-XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -a /etc "$work/etc"

unshare -m --propagation private bash -s "$authctl" "$work" <<'INNER'
set -euo pipefail
authctl=$1 work=$2
mount --bind "$work/etc" /etc
# A test user and two groups, written straight into the copied files.
echo 'ggadmin:x:4701:4701::/nonexistent:/usr/sbin/nologin' >> /etc/passwd
echo 'ggadmin:!:19000:0:99999:7:::' >> /etc/shadow
echo 'ggadmin:x:4701:' >> /etc/group
echo 'ggadmin:!::' >> /etc/gshadow
echo 'ggsudo:x:4702:' >> /etc/group
echo 'ggsudo:!::' >> /etc/gshadow
echo 'ggold:x:4703:ggadmin' >> /etc/group
echo 'ggold:!::ggadmin' >> /etc/gshadow
state=$work/state
fail() { echo "FAIL: $*"; exit 1; }

# enroll --confirm: read the URI it prints, answer with the app's code.
coproc ENROLL { "$authctl" enroll -u ggadmin --dir "$state" --confirm --qr none \
                --grant-group ggsudo --grant-group ggold 2>&1; }
# bash forgets a coproc's pid and fds once it exits: keep them.
enroll_pid=$ENROLL_PID
exec {from}<&"${ENROLL[0]}" {to}>&"${ENROLL[1]}"
secret=
while IFS= read -r line <&"$from"; do
  case $line in otpauth://*) secret=${line#*secret=}; secret=${secret%%&*}; break;; esac
done
[ -n "$secret" ] || fail "no URI printed"
code=$(echo "$secret" | oathtool -b --totp -)
echo "$code" >&"$to"
exec {to}>&-
out=$(cat <&"$from")
wait "$enroll_pid" || fail "enroll --confirm --grant-group failed: $out"
grep -q 'Added ggadmin to group ggsudo' <<<"$out" || fail "no 'Added' line: $out"
grep -q 'Added ggadmin to group ggold' <<<"$out" && fail "claimed a membership it did not make: $out"
id -nG ggadmin | tr ' ' '\n' | grep -qx ggsudo || fail "ggadmin not in ggsudo after enroll"
"$authctl" audit --dir "$state" --group ggsudo >/dev/null || fail "audit finds an enrolled, confirmed member"
grep -q '^granted_group ggsudo$' "$state/ggadmin.rec" || fail "grant not recorded"

# remove undoes exactly what enroll granted.
"$authctl" remove -u ggadmin --dir "$state" | grep -q 'removed from group ggsudo' || fail "remove did not report the group"
id -nG ggadmin | tr ' ' '\n' | grep -qx ggsudo && fail "ggadmin still in ggsudo after remove"
id -nG ggadmin | tr ' ' '\n' | grep -qx ggold || fail "remove took away a membership authctl did not grant"

# Without a matching code nothing is stored and no group is granted.
printf '000000\n000000\n000000\n' | "$authctl" enroll -u ggadmin --dir "$state" --confirm --qr none \
    --grant-group ggsudo >/dev/null 2>&1 && fail "enroll succeeded with wrong codes"
id -nG ggadmin | tr ' ' '\n' | grep -qx ggsudo && fail "granted a group without a confirmed enrollment"
[ -e "$state/ggadmin.rec" ] && fail "stored an enrollment without a matching code"
echo "ok: --grant-group granted, audited, and undone by remove; nothing granted without a code"

# import google-authenticator --all walks real home directories as root. A
# user's file imports; a symlink to a root-only file and a file owned by
# someone else are refused; users without a file are skipped.
mkdir -p "$work/home/gghonest" "$work/home/ggevil" "$work/home/ggplant" "$work/home/gglink"
echo "gglink:x:4714:4714::$work/home/gglink:/bin/sh" >> /etc/passwd
echo "gghonest:x:4711:4711::$work/home/gghonest:/bin/sh" >> /etc/passwd
echo "ggevil:x:4712:4712::$work/home/ggevil:/bin/sh" >> /etc/passwd
echo "ggplant:x:4713:4713::$work/home/ggplant:/bin/sh" >> /etc/passwd
google-authenticator -t -d -f -C -q -Q NONE -u -w 3 -e 2 -s "$work/home/gghonest/.google_authenticator" >/dev/null
chown -R 4711:4711 "$work/home/gghonest"
ln -s /etc/shadow "$work/home/ggevil/.google_authenticator"
cp "$work/home/gghonest/.google_authenticator" "$work/home/ggplant/.google_authenticator"
chown 4711:4711 "$work/home/ggplant/.google_authenticator"   # planted by gghonest for ggplant
# A root-owned secret hard-linked into a user's home is not that user's file.
google-authenticator -t -d -f -C -q -Q NONE -u -w 3 -e 0 -s "$work/root-ga" >/dev/null
ln "$work/root-ga" "$work/home/gglink/.google_authenticator"
set +e
out=$("$authctl" import google-authenticator --all --dir "$work/state2" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "import --all should report the refused files (rc=$rc): $out"
grep -q 'gghonest: imported TOTP' <<<"$out" || fail "the honest user was not imported: $out"
grep -q '1 imported, 3 failed' <<<"$out" || fail "unexpected tally: $out"
[ -e "$work/state2/ggevil.rec" ] && fail "imported through a symlink"
[ -e "$work/state2/ggplant.rec" ] && fail "imported a file another user planted"
[ -e "$work/state2/gglink.rec" ] && fail "imported a root-owned file through a hard link"
hsecret=$(head -n1 "$work/home/gghonest/.google_authenticator")
"$authctl" verify -u gghonest --dir "$work/state2" "$(echo "$hsecret" | oathtool -b --totp -)" >/dev/null \
  || fail "imported code does not verify"
echo "ok: import --all imports the user's own file, refuses symlinks and planted files"
INNER
grep -q '^ggsudo:' /etc/group && { echo "FAIL: the machine's /etc/group was changed"; exit 1; }
echo "2 passed, 0 failed"
