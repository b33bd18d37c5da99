#!/usr/bin/env bash
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
INNER
grep -q '^ggsudo:' /etc/group && { echo "FAIL: the machine's /etc/group was changed"; exit 1; }
echo "1 passed, 0 failed"
