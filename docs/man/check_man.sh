#!/usr/bin/env bash
# The man pages render without a single warning, and cannot silently fall
# behind the code: every option key the parser knows (core/src/options.cpp)
# is in pam_authctl(8) and authctl.conf(5), and every command of
# `authctl --help` is in authctl(8).
#   check_man.sh MAN_DIR OPTIONS_CPP AUTHCTL
set -uo pipefail
man_dir=$1 options=$2 authctl=$3
fail=0
bad() { echo "FAIL - $*"; fail=1; }

for page in "$man_dir"/pam_authctl.8 "$man_dir"/authctl.8 "$man_dir"/authctl.conf.5; do
  warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings=all -l "$page" 2>&1 >/dev/null)
  [ -z "$warnings" ] || bad "$(basename "$page") renders with warnings: $warnings"
  warnings=$(groff -man -ww -z "$page" 2>&1)
  [ -z "$warnings" ] || bad "$(basename "$page"): groff: $warnings"
done

keys=$(grep -oE 'key == "[a-z_]+"' "$options" | sed -E 's/.*"(.*)"/\1/' | sort -u)
[ "$(echo "$keys" | wc -l)" -ge 10 ] || bad "found only $(echo "$keys" | wc -w) option keys in $options"
for key in $keys conf; do
  grep -qE "^\\.(B|BI) +\"?$key([= \"]|\$)" "$man_dir/pam_authctl.8" || bad "pam_authctl.8 does not document '$key'"
done
for mode in preauth authfail authsucc; do
  grep -qE "^\\.B auth $mode\$" "$man_dir/pam_authctl.8" || bad "pam_authctl.8 does not document the mode '$mode'"
done
for key in $keys; do
  grep -qE "^\\.(B|BI) +\"?$key([= \"]|\$)" "$man_dir/authctl.conf.5" || bad "authctl.conf.5 does not document '$key'"
done

commands=$("$authctl" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1}')
[ -n "$commands" ] || bad "authctl --help lists no commands"
for cmd in $commands; do
  grep -qE "^\\.B $cmd( |\$)" "$man_dir/authctl.8" || bad "authctl.8 does not document the command '$cmd'"
done

[ "$fail" = 0 ] && echo "ok - 3 man pages render cleanly and document $(echo $keys | wc -w) options and $(echo $commands | wc -w) commands"
exit "$fail"
