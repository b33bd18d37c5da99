#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# authctl enroll --confirm --grant-group, authctl remove and authctl import
# google-authenticator --all against the real shadow tools (gpasswd) and the
# real user database, inside a private mount namespace that sees only the
# users, groups and homes this test makes (tests/support/private_users.sh):
# the machine's /etc, users and homes are never touched nor seen.
#   grant_group_test.sh AUTHCTL
set -euo pipefail
if [ "${1-}" != --inner ]; then
  self=$(readlink -f "$0")
  "$(dirname "$self")/../support/private_users.sh" "$self" --inner "$@"
  grep -q '^ggsudo:' /etc/group && { echo "FAIL: the machine's /etc/group was changed"; exit 1; }
  echo "4 passed, 0 failed"
  exit 0
fi
shift
authctl=$1 work=$PRIVATE_WORK
state=$work/state
fail() { echo "FAIL: $*"; exit 1; }
in_group() { id -nG "$1" | tr ' ' '\n' | grep -qx "$2"; }
# Whole output against the expected lines, in order.
expect_lines() { # NAME ACTUAL EXPECTED
  [ "$2" = "$3" ] || fail "$1: expected
--- 
$3
--- got
$2
---"
}

# A test user, a group to grant, and sudo (an admin group) it is already in.
echo 'ggadmin:x:4701:4701::/nonexistent:/usr/sbin/nologin' >> /etc/passwd
echo 'ggadmin:!:19000:0:99999:7:::' >> /etc/shadow
echo 'ggadmin:x:4701:' >> /etc/group
echo 'ggadmin:!::' >> /etc/gshadow
echo 'ggsudo:x:4702:' >> /etc/group
echo 'ggsudo:!::' >> /etc/gshadow
echo 'sudo:x:27:ggadmin' >> /etc/group
echo 'sudo:!::ggadmin' >> /etc/gshadow

# enroll --confirm ARGS...: reads the URI it prints and answers with the app's
# code; sets $out (stdout), $err (stderr) and $rc. With --json the URI is on
# stderr: both are read together, and $out is from the JSON's first line on.
enroll_confirm() {
  local json=false; case " $* " in *" --json "*) json=true;; esac
  if $json; then
    coproc ENROLL { "$authctl" enroll -u ggadmin --dir "$state" --confirm --qr none "$@" 2>&1; }
  else
    coproc ENROLL { "$authctl" enroll -u ggadmin --dir "$state" --confirm --qr none "$@" 2>"$work/err"; }
  fi
  # bash forgets a coproc's pid and fds once it exits: keep them.
  local pid=$ENROLL_PID from to line secret= first=
  exec {from}<&"${ENROLL[0]}" {to}>&"${ENROLL[1]}"
  while IFS= read -r line <&"$from"; do
    first+="$line"$'\n'
    case $line in otpauth://*) secret=${line#*secret=}; secret=${secret%%&*}; break;; esac
  done
  [ -n "$secret" ] || fail "no URI printed"
  oathtool -b --totp - <<<"$secret" >&"$to"
  exec {to}>&-
  out=$first$(cat <&"$from")
  exec {from}<&-
  rc=0; wait "$pid" || rc=$?
  if $json; then err=$(sed -n '1,/^{/p' <<<"$out" | sed '$d'); out=$(sed -n '/^{/,$p' <<<"$out")
  else err=$(cat "$work/err"); fi
}

# 1. enroll --grant-group: authctl's own lines, never gpasswd's.
enroll_confirm --grant-group ggsudo --grant-group sudo
[ $rc -eq 0 ] || fail "enroll --confirm --grant-group failed: $out $err"
grep -qxF 'Added ggadmin to group ggsudo.' <<<"$out" || fail "no 'Added' line: $out"
grep -qxF "ggadmin was already in sudo: left as it is; 'authctl remove' will not take it away." <<<"$out" \
  || fail "no 'already in' line: $out"
grep -q 'Added ggadmin to group sudo' <<<"$out" && fail "claimed a membership it did not make: $out"
grep -qi 'adding user\|removing user' <<<"$out$err" && fail "gpasswd's own output leaked: $out $err"
[ -z "$err" ] || fail "enroll wrote to stderr: $err"
in_group ggadmin ggsudo || fail "ggadmin not in ggsudo after enroll"
"$authctl" audit --dir "$state" --group ggsudo --no-sudo >/dev/null || fail "audit finds an enrolled, confirmed member"
grep -q '^granted_group ggsudo$' "$state/ggadmin.rec" || fail "grant not recorded"
grep -q '^granted_group sudo$' "$state/ggadmin.rec" && fail "recorded a membership it did not make"

# remove undoes exactly what enroll granted, and says what it kept and why.
out=$("$authctl" remove -u ggadmin --dir "$state" 2>"$work/err")
expect_lines "remove" "$out" "ggadmin: removed from group ggsudo (added by authctl enroll --grant-group)
ggadmin: still in group sudo: not granted by authctl (a membership from before, or given otherwise), left as it is
ggadmin: enrollment, recovery codes and failure record removed"
[ -s "$work/err" ] && fail "remove wrote to stderr: $(cat "$work/err")"
in_group ggadmin ggsudo && fail "ggadmin still in ggsudo after remove"
in_group ggadmin sudo || fail "remove took away a membership authctl did not grant"

# The same with --json: stdout is the JSON alone, with the groups as fields.
enroll_confirm --grant-group ggsudo --grant-group sudo --json
[ $rc -eq 0 ] || fail "enroll --json failed: $err"
[ "$(jq -c '[.granted_groups, .groups_already_member]' <<<"$out")" = '[["ggsudo"],["sudo"]]' ] || fail "enroll --json: $out"
grep -qi 'adding user' <<<"$out$err" && fail "gpasswd's own output leaked: $out $err"
out=$("$authctl" remove -u ggadmin --dir "$state" --json 2>"$work/err")
[ "$(jq -c '[.groups_removed, .groups_kept, .groups_left]' <<<"$out")" = '[["ggsudo"],["sudo"],[]]' ] \
  || fail "remove --json: $out"
[ -s "$work/err" ] && fail "remove --json wrote to stderr: $(cat "$work/err")"

# gpasswd failing (/etc/group locked by a live process): one line naming
# gpasswd's reason; nothing stored, nothing granted.
printf %s $$ > /etc/group.lock
enroll_confirm --grant-group ggsudo
[ $rc -eq 1 ] || fail "enroll with /etc/group locked: rc=$rc"
[ "$(wc -l <<<"$err")" -eq 1 ] || fail "not one line: $err"
case $err in "authctl: could not add ggadmin to group ggsudo: gpasswd: "*"cannot lock /etc/group"*"(nothing was stored for 'ggadmin')") ;;
  *) fail "unclear error: $err";; esac
grep -qi 'adding user' <<<"$out$err" && fail "gpasswd's own output leaked: $out"
[ -e "$state/ggadmin.rec" ] && fail "stored an enrollment whose group could not be granted"
rm /etc/group.lock
enroll_confirm --grant-group ggsudo
[ $rc -eq 0 ] || fail "enroll: $err"
printf %s $$ > /etc/group.lock
set +e; out=$("$authctl" remove -u ggadmin --dir "$state" 2>"$work/err"); rc=$?; set -e
rm /etc/group.lock
[ $rc -eq 1 ] || fail "remove with /etc/group locked: rc=$rc"
grep -q '^authctl: could not remove ggadmin from group ggsudo: gpasswd: .*cannot lock /etc/group' "$work/err" \
  || fail "unclear error: $(cat "$work/err")"
grep -qi 'removing user' <<<"$out$(cat "$work/err")" && fail "gpasswd's own output leaked: $out"
gpasswd -d ggadmin ggsudo >/dev/null
echo "ok: enroll/remove --grant-group print authctl's lines only, say what they keep, and name gpasswd's reason"

# 2. Without a matching code nothing is stored and no group is granted.
printf '000000\n000000\n000000\n' | "$authctl" enroll -u ggadmin --dir "$state" --confirm --qr none \
    --grant-group ggsudo >/dev/null 2>&1 && fail "enroll succeeded with wrong codes"
in_group ggadmin ggsudo && fail "granted a group without a confirmed enrollment"
[ -e "$state/ggadmin.rec" ] && fail "stored an enrollment without a matching code"
echo "ok: nothing granted without a code"

# 3. import google-authenticator --all walks the home directories as root:
# here only this test's users, with their homes in its temp dir ($home; the
# real /home and /root are hidden). A user's file imports; a symlink to a
# root-only file, a file owned by someone else and a root-owned file
# hard-linked into a home are refused; users without a file are skipped.
home=$work/home
mkdir -p $home/gghonest $home/ggevil $home/ggplant $home/gglink $home/ggnofile
echo "gglink:x:4714:4714::$home/gglink:/bin/sh" >> /etc/passwd
echo "gghonest:x:4711:4711::$home/gghonest:/bin/sh" >> /etc/passwd
echo "ggevil:x:4712:4712::$home/ggevil:/bin/sh" >> /etc/passwd
echo "ggplant:x:4713:4713::$home/ggplant:/bin/sh" >> /etc/passwd
echo "ggnofile:x:4715:4715::$home/ggnofile:/bin/sh" >> /etc/passwd
google-authenticator -t -d -f -C -q -Q NONE -u -w 3 -e 2 -s $home/gghonest/.google_authenticator >/dev/null
chown -R 4711:4711 $home/gghonest
ln -s /etc/shadow $home/ggevil/.google_authenticator
cp $home/gghonest/.google_authenticator $home/ggplant/.google_authenticator
chown 4711:4711 $home/ggplant/.google_authenticator   # planted by gghonest for ggplant
google-authenticator -t -d -f -C -q -Q NONE -u -w 3 -e 0 -s $home/root-ga >/dev/null
ln $home/root-ga $home/gglink/.google_authenticator
set +e
out=$("$authctl" import google-authenticator --all --dir "$work/state2" 2>&1); rc=$?
set -e
[ $rc -eq 1 ] || fail "import --all should report the refused files (rc=$rc): $out"
grep -q '^gghonest: imported TOTP' <<<"$out" || fail "the honest user was not imported: $out"
grep -qxF '1 imported, 0 skipped (already imported), 3 failed' <<<"$out" || fail "unexpected tally: $out"
[ -e "$work/state2/ggevil.rec" ] && fail "imported through a symlink"
[ -e "$work/state2/ggplant.rec" ] && fail "imported a file another user planted"
[ -e "$work/state2/gglink.rec" ] && fail "imported a root-owned file through a hard link"
hsecret=$(head -n1 $home/gghonest/.google_authenticator)
"$authctl" verify -u gghonest --dir "$work/state2" "$(oathtool -b --totp - <<<"$hsecret")" >/dev/null \
  || fail "imported code does not verify"
echo "ok: import --all imports the user's own file, refuses symlinks and planted files"

# 4. Running it again: the imported user is skipped, not failed; exit 0 once
# nothing else is wrong. --dry-run says what would happen and writes nothing.
rm $home/ggevil/.google_authenticator $home/ggplant/.google_authenticator $home/gglink/.google_authenticator
out=$("$authctl" import google-authenticator --all --dir "$work/state2" 2>&1) || fail "re-run: $out"
expect_lines "re-run" "$out" "gghonest: skipped: already imported (the same secret is enrolled)
0 imported, 1 skipped (already imported), 0 failed"
out=$("$authctl" import google-authenticator --all --force --dir "$work/state2" 2>&1) || fail "re-run --force: $out"
grep -qxF 'gghonest: skipped: already imported (the same secret is enrolled; --force does not import it again)' \
  <<<"$out" || fail "--force re-imported the same secret: $out"
# Another user's file with settings authctl does not carry over, and one
# enrolled with another secret (a conflict: only --force replaces it).
mkdir -p $home/ggnew
echo "ggnew:x:4716:4716::$home/ggnew:/bin/sh" >> /etc/passwd
google-authenticator -t -d -f -C -q -Q NONE -r 3 -R 30 -w 17 -e 1 -s $home/ggnew/.google_authenticator >/dev/null
echo '" TIME_SKEW 4' >> $home/ggnew/.google_authenticator
chown -R 4716:4716 $home/ggnew
"$authctl" enroll -u ggnofile --dir "$work/state2" --qr none >/dev/null
google-authenticator -t -d -f -C -q -Q NONE -u -w 3 -e 0 -s $home/ggnofile/.google_authenticator >/dev/null
chown -R 4715:4715 $home/ggnofile
snapshot() { (cd "$work/state2" && find . -printf '%p %s %m %u %T@\n' | sort && find . -type f -exec sha256sum {} + | sort); }
before=$(snapshot)
set +e; out=$("$authctl" import google-authenticator --all --dry-run --dir "$work/state2" 2>&1); rc=$?; set -e
[ "$(snapshot)" = "$before" ] || fail "--dry-run changed the state directory"
[ $rc -eq 1 ] || fail "--dry-run with a conflict: rc=$rc: $out"
expect_lines "dry run" "$(sort <<<"$out")" "$(sort <<EXP
gghonest: skipped: already imported (the same secret is enrolled)
ggnew: would import TOTP from $home/ggnew/.google_authenticator with 1 scratch codes as recovery codes
ggnew: WINDOW_SIZE 17: not carried over; authctl accepts 3 codes (window=1: steps either side of now) for every user, set in authctl.conf
ggnew: RATE_LIMIT 3 30: not carried over; authctl counts failures instead of limiting attempts: deny=3 failures within fail_interval=900 s lock the account (authctl.conf)
ggnew: TIME_SKEW 4: not carried over; authctl keeps no per-user clock offset: this phone's clock was 4 step(s) off, more than window=1 allows: its codes will be refused until its clock is set right
authctl: ggnofile: already enrolled with another secret; not imported (--force replaces it)
dry run, nothing written: 1 would be imported, 1 skipped (already imported), 1 failed
authctl: 1 file(s) could not be imported (see above)
EXP
)"
# A dry run on a state directory that does not exist creates nothing.
out=$("$authctl" import google-authenticator -u ggnew --dry-run --dir "$work/state3" 2>&1) || fail "--dry-run, no state: $out"
grep -q '^ggnew: would import TOTP' <<<"$out" || fail "--dry-run, no state: $out"
[ -e "$work/state3" ] && fail "--dry-run created the state directory"
out=$("$authctl" import google-authenticator --all --force --dir "$work/state2" 2>&1) || fail "--force: $out"
grep -qxF '1 imported, 0 skipped (already imported), 0 failed' <<<"$out" && fail "--force: $out"
grep -q '^ggnofile: imported TOTP .*, replacing its enrollment$' <<<"$out" || fail "--force did not replace: $out"
grep -q '^ggnew: imported TOTP' <<<"$out" || fail "ggnew not imported: $out"
grep -qxF '2 imported, 1 skipped (already imported), 0 failed' <<<"$out" || fail "--force tally: $out"
nsecret=$(head -n1 $home/ggnofile/.google_authenticator)
"$authctl" verify -u ggnofile --dir "$work/state2" "$(oathtool -b --totp - <<<"$nsecret")" >/dev/null \
  || fail "the replacing enrollment does not verify"
echo "ok: re-runs skip what is imported (exit 0), --dry-run writes nothing, settings not carried are named"
